"""The shape of the code a maintainer inherits: one job per module (size as the symptom), comments
that stand alone (nothing cited from outside the repository), and no hand-made import paths."""

from __future__ import annotations

import re
import subprocess

from tests.conftest import ROOT, require_git_checkout

MAX_LINES = 350
#: Modules allowed to be longer, each with the reason it is one job.
LONGER = {
    "plugins/spor/state/migrations/versions/0001_baseline.py": "a frozen copy of the first schema: every table, once",
}
CITES_OUTSIDE = re.compile(r"[Ee]ngineering notes?\b|\b[Ii]ssue \d+|\.\./shared|\(notes? \d+\)|\bnotes? \d+[),;]|"
                           r"\bpoint \d+\b")


def _tracked(*patterns: str) -> list[str]:
    out = subprocess.run([require_git_checkout(), "ls-files", *patterns], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if (ROOT / line).is_file()]


def test_every_module_of_the_package_stays_small():
    too_long = {}
    for path in _tracked("plugins/*.py"):
        lines = len((ROOT / path).read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES and path not in LONGER:
            too_long[path] = lines
    assert not too_long, f"split these (one job per module) or justify them in LONGER: {too_long}"
    assert all((ROOT / p).exists() for p in LONGER), "LONGER names a module that no longer exists"


def test_no_comment_cites_something_outside_the_repository():
    found = []
    for path in _tracked("plugins/*.py", "dags/*.py", "plugins/.airflowignore"):
        for number, line in enumerate((ROOT / path).read_text(encoding="utf-8").splitlines(), 1):
            if CITES_OUTSIDE.search(line):
                found.append(f"{path}:{number}: {line.strip()}")
    assert not found, "move the fact into docs/ and cite that:\n" + "\n".join(found)


def test_nothing_edits_sys_path():
    edits = re.compile(r"sys\.path\s*(\.(insert|append|extend)|\[[^]]*\]\s*=|\+=)")
    found = [f"{path}:{n}" for path in _tracked("*.py")
             for n, line in enumerate((ROOT / path).read_text(encoding="utf-8").splitlines(), 1) if edits.search(line)]
    assert not found, found


def test_every_noqa_and_type_ignore_names_its_reason():
    """A suppression says why, after the code: ``# noqa: BLE001 - any failure means ...``, and
    ``# type: ignore[attr-defined]  # why`` (mypy reads nothing but another comment after the code)."""
    suppression = re.compile(r"#\s*(noqa|type:\s*ignore)\b(?P<rest>.*)")
    with_reason = re.compile(r"^(: ?[A-Z0-9, ]+|\[[a-z-, ]+\])\s+(-|—|\(|#)\s*\S")
    found = []
    for path in _tracked("*.py"):
        for number, line in enumerate((ROOT / path).read_text(encoding="utf-8").splitlines(), 1):
            m = suppression.search(line)
            if m and not with_reason.match(m.group("rest")):
                found.append(f"{path}:{number}: {line.strip()}")
    assert not found, "name the code and the reason (`# noqa: E731 - why`):\n" + "\n".join(found)
