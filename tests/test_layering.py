"""The packages of ``spor`` depend one way: each imports only from its own layer or below, two
packages never import each other, and every top-level module and package has a place here.
Imports under ``if TYPE_CHECKING:`` are exempt (annotations only, nothing runs).

A new module gets a line in LAYERS; an import that breaks the order means the code belongs
elsewhere (a value both sides need moves down), not that the order should bend."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from tests.conftest import PLUGINS

PACKAGE = PLUGINS / "spor"

#: Lowest first. A name imports from its own layer (one way) or from layers below.
LAYERS: list[tuple[str, ...]] = [
    # values and rules everything shares; no I/O of their own
    ("spor", "errors", "clock", "lifecycle", "settings", "resources", "pii", "verdicts", "page", "links",
     "compat", "metrics", "rejections"),
    ("state",),                       # the state database: outbox, ledger, watermark, run log
    ("extract", "registration"),      # reading the OPS; building one registration
    ("quality", "lineage"),           # the Great Expectations gate; the Assets and OpenLineage facets of a run
    ("transport", "hooks"),           # talking to SPOR; Airflow hooks for the connections
    ("send", "notifications"),        # the send loop; alerts and e-mail
    ("removal",),                     # removal requests to UCR
    ("tasks", "pipeline"),            # the task bodies and the DAGs' shared chain
    ("cli", "ui", "plugin", "policy", "synthetic", "get_provider_info", "__main__"),  # entry points
]
LAYER_OF = {name: n for n, names in enumerate(LAYERS) for name in names}


def _unit(dotted: str) -> str:
    """``spor.state.outbox`` -> ``state``; ``spor`` (the package's own ``__init__``) -> ``spor``."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else "spor"


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    exempt: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            exempt.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return exempt


def _imports(package: Path = PACKAGE) -> dict[tuple[str, str], list[str]]:
    """(importing unit, imported unit) -> where, for every import between two different units."""
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(package.rglob("*.py")):
        module = ".".join(path.relative_to(package.parent).with_suffix("").parts).removesuffix(".__init__")
        source = _unit(module)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        exempt = _type_checking_nodes(tree)
        for node in ast.walk(tree):
            if id(node) in exempt:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module == "spor":  # `from spor import settings` names a module, or the root's own
                    targets = [f"spor.{a.name}" if (package / a.name).exists() or (package / f"{a.name}.py").exists()
                               else "spor" for a in node.names]
                else:
                    targets = [node.module]
            for target in targets:
                if target == "spor" or target.startswith("spor."):
                    unit = _unit(target)
                    if unit != source:
                        found[(source, unit)].append(f"{path.relative_to(package.parent)}:{node.lineno} imports {target}")
    return found


def _units_on_disk() -> set[str]:
    names = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    names |= {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    return names | {"spor"}


def test_every_module_and_package_has_a_layer():
    on_disk = _units_on_disk()
    assert sorted(on_disk - set(LAYER_OF)) == [], "give each a place in LAYERS"
    assert sorted(set(LAYER_OF) - on_disk) == [], "LAYERS names something that no longer exists"
    assert len(LAYER_OF) == sum(len(names) for names in LAYERS), "a name is listed twice"


def test_no_package_imports_upward():
    upward = [where for (src, dst), places in _imports().items() if LAYER_OF[dst] > LAYER_OF[src] for where in places]
    assert upward == [], "upward imports (move the shared value down, or the code up):\n" + "\n".join(upward)


def test_no_two_packages_import_each_other():
    imports = _imports()
    mutual = sorted({tuple(sorted(pair)) for pair in imports if (pair[1], pair[0]) in imports})
    details = [where for a, b in mutual for where in imports[(a, b)] + imports[(b, a)]]
    assert mutual == [], f"mutual imports {mutual}:\n" + "\n".join(details)


def test_the_check_sees_an_upward_import(tmp_path):
    """The checks above can fail: a state module importing the send loop is caught."""
    import shutil

    copy = tmp_path / "spor"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "data", "schema"))
    (copy / "state" / "offender.py").write_text("from spor.send import batch\n")
    upward = [w for (s, d), ws in _imports(copy).items() if LAYER_OF[d] > LAYER_OF[s] for w in ws]
    assert upward == ["spor/state/offender.py:1 imports spor.send"]


def test_the_check_sees_two_peers_importing_each_other(tmp_path):
    import shutil

    copy = tmp_path / "spor"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "data", "schema"))
    (copy / "extract" / "offender.py").write_text("from spor.registration import units\n")
    (copy / "registration" / "offender.py").write_text("import spor.extract.source\n")
    imports = _imports(copy)
    assert ("extract", "registration") in imports and ("registration", "extract") in imports
