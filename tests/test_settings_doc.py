"""docs/settings.md lists exactly what the code reads, with the defaults the code has.

Everything expected is derived from the code, so a setting added, removed or given a new default
fails here until the page follows: the fields of ``spor.settings.Settings`` with their defaults
(as JSON in ``spor_config``), the options the provider declares in ``get_provider_info()["config"]``
with their defaults, the Airflow Variables (``*VARIABLE`` constants and literal ``Variable.get``
names of the package) and the environment variables (``SPOR_*`` names and ``os.environ`` look-ups).
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
from collections.abc import Mapping
from datetime import time
from pathlib import Path

from spor import settings
from spor.get_provider_info import get_provider_info
from tests.conftest import PLUGINS, ROOT

DOC = ROOT / "docs" / "settings.md"
PACKAGE = PLUGINS / "spor"
ENV_NAME = re.compile(r"SPOR_[A-Z0-9_]+")


def _sections() -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    parts = re.split(r"^## +(.+)$", text, flags=re.M)
    return {heading.strip(): body for heading, body in zip(parts[1::2], parts[2::2])}


def _table(heading: str) -> dict[str, str]:
    """First column (without backticks) -> second column of the table under ``## heading``."""
    body = _sections().get(heading)
    assert body is not None, f"docs/settings.md has no section '## {heading}'"
    rows = {}
    for line in body.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 3 and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = cells[1]
    return rows


def _as_json(value: object) -> object:
    """A default as it is written in the Variable's JSON."""
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, Mapping):
        return {k: _as_json(v) for k, v in value.items()}
    return value


def _shown(cell: str) -> object:
    """The JSON value a table cell shows (``\\`"spor"\\```), or a marker when it shows none."""
    m = re.fullmatch(r"`([^`]*)`", cell)
    try:
        return json.loads(m.group(1)) if m else ...
    except ValueError:
        return ...


def _package_modules() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text(encoding="utf-8"))) for path in sorted(PACKAGE.rglob("*.py"))]


def _string_constants(tree: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def variables_in_code() -> set[str]:
    """Names of the Airflow Variables the package reads. A ``Variable.get`` whose name is not a
    literal must sit in a module with a ``*VARIABLE`` constant, which names it."""
    names, unnamed = set(), []
    for path, tree in _package_modules():
        constants = {target.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
                     and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
                     for target in node.targets if isinstance(target, ast.Name) and target.id.endswith("VARIABLE")}
        imported = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                    for alias in node.names if alias.name.endswith("VARIABLE")}
        names |= set(constants.values())
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "Variable" and node.args):
                first = node.args[0]
                if isinstance(first, ast.Constant):
                    names.add(first.value)
                elif not (constants or imported):
                    unnamed.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not unnamed, f"Variable.get with a name this test cannot find (use a *VARIABLE constant): {unnamed}"
    return names


def environment_in_code() -> set[str]:
    """``SPOR_*`` names, and every literal name looked up through ``os.environ``/``os.getenv``."""
    names = set()
    for _, tree in _package_modules():
        names |= {s for s in _string_constants(tree) if ENV_NAME.fullmatch(s)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
                call = ast.unparse(node.func)
                if call.startswith("os.environ.") or call == "os.getenv":
                    names.add(node.args[0].value)
            if (isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ"
                    and isinstance(node.slice, ast.Constant)):
                names.add(node.slice.value)
    return names


def test_every_spor_config_setting_is_documented_with_its_default():
    shown = _table("The `spor_config` settings")
    problems = []
    for f in dataclasses.fields(settings.Settings):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if f.name not in shown:
            problems.append(f"{f.name}: missing (default {json.dumps(_as_json(default))})")
        elif _shown(shown[f.name]) != _as_json(default):
            problems.append(f"{f.name}: shows {shown[f.name]}, the code's default is `{json.dumps(_as_json(default))}`")
    known = {f.name for f in dataclasses.fields(settings.Settings)}
    problems += [f"{name}: documented but not a field of Settings" for name in shown if name not in known]
    assert not problems, "docs/settings.md, spor_config:\n" + "\n".join(problems)
    # the documented values, written into spor_config, give exactly the defaults
    assert settings.from_mapping({name: _shown(cell) for name, cell in shown.items()}) == settings.Settings()


def test_every_provider_option_is_documented_with_its_default():
    declared = {f"[{section}] {option}": spec.get("default")
                for section, body in get_provider_info().get("config", {}).items()
                for option, spec in body["options"].items()}
    shown = _table("Provider configuration")
    problems = [f"{name}: missing (default {json.dumps(default)})" for name, default in declared.items() if name not in shown]
    problems += [f"{name}: shows {shown[name]}, declared default `{json.dumps(default)}`"
                 for name, default in declared.items() if name in shown and _shown(shown[name]) != default]
    problems += [f"{name}: documented but not declared" for name in shown if name not in declared]
    assert not problems, "docs/settings.md, provider configuration:\n" + "\n".join(problems)


def test_every_airflow_variable_is_documented():
    in_code, shown = variables_in_code(), set(_table("Airflow Variables"))
    assert in_code, "found no Airflow Variable in the package: the search above is broken"
    assert shown == in_code, f"missing: {sorted(in_code - shown)}; no longer read: {sorted(shown - in_code)}"


def test_every_environment_variable_is_documented():
    in_code, shown = environment_in_code(), set(_table("Environment variables"))
    source = {s for _, tree in _package_modules() for s in _string_constants(tree)}
    missing = sorted(in_code - shown)
    stale = sorted(name for name in shown if name not in source)
    assert not missing and not stale, f"missing: {missing}; named nowhere in the package: {stale}"
