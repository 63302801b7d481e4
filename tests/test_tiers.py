"""The test tiers cannot rot: every collected test is in the fast tier (`make test-fast`) or carries
the tier marker of where it lives and what it needs; `make test-fast` leaves out every tier marker
and pyproject.toml registers each; a test that reaches a server fixture at run time without the
marker fails (tests/conftest.py puts the markers on)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import tomllib

from tests.conftest import ROOT, TIER_BY_DIRECTORY, TIER_MARKERS

#: Writes every collected test's node id and marker names to $SPOR_TIER_DUMP.
DUMP_PLUGIN = """
import json, os

def pytest_collection_finish(session):
    with open(os.environ["SPOR_TIER_DUMP"], "w") as out:
        json.dump({item.nodeid: sorted({m.name for m in item.iter_markers()}) for item in session.items}, out)
"""
#: Directories under tests/ whose tests are fast unless their fixtures say otherwise; every other
#: directory with tests must be one of TIER_BY_DIRECTORY (a new directory is classified on purpose).
FAST_DIRECTORIES = {"spor", "standin"}
#: A parameter id naming a server: such a test in the fast tier would skip or fail without it.
SERVER_PARAM = re.compile(r"\[[^\]]*\b(postgres|postgresql|mariadb|mysql|redis|celery)\b", re.IGNORECASE)


def _clean_env(**extra: str) -> dict[str, str]:
    """This run's environment without what pytest and xdist set for their own processes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return env | extra


def _collected(tmp_path) -> dict[str, set[str]]:
    (tmp_path / "spor_tier_dump.py").write_text(DUMP_PLUGIN)
    dump = tmp_path / "tiers.json"
    env = _clean_env(SPOR_TIER_DUMP=str(dump), PYTHONPATH=os.pathsep.join(filter(None, [str(tmp_path),
                                                                                        os.environ.get("PYTHONPATH")])))
    # --strict-markers: a misspelt tier marker would leave its test in the fast tier.
    run = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "--strict-markers", "-p", "no:cacheprovider",
                          "-p", "spor_tier_dump", "tests"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return {nodeid: set(markers) for nodeid, markers in json.loads(dump.read_text()).items()}


def test_every_test_is_fast_or_carries_the_marker_of_its_directory_and_servers(tmp_path):
    tests = _collected(tmp_path)
    wrong = []
    for nodeid, markers in tests.items():
        top = nodeid.split("/")[1] if nodeid.count("/") > 1 else None
        if top in TIER_BY_DIRECTORY and TIER_BY_DIRECTORY[top] not in markers:
            wrong.append(f"{nodeid}: under tests/{top}/ but not marked {TIER_BY_DIRECTORY[top]}")
        if not markers & set(TIER_MARKERS) and SERVER_PARAM.search(nodeid):
            wrong.append(f"{nodeid}: a server parameter in the fast tier")
    assert not wrong, "\n".join(wrong)
    fast = [n for n, m in tests.items() if not m & set(TIER_MARKERS)]
    for tier in TIER_MARKERS:
        assert any(tier in m for m in tests.values()), f"no test is marked {tier}: is the rule that puts it on gone?"
    assert len(fast) > len(tests) / 2, f"only {len(fast)} of {len(tests)} tests are in the fast tier"


def test_every_directory_of_tests_is_classified():
    tests = ROOT / "tests"
    with_tests = {p.relative_to(tests).parts[0] for p in tests.rglob("test_*.py") if p.parent != tests}
    classified = FAST_DIRECTORIES | set(TIER_BY_DIRECTORY)
    assert with_tests == classified, \
        f"name each in FAST_DIRECTORIES here or TIER_BY_DIRECTORY of tests/conftest.py: {with_tests ^ classified}"


def test_make_test_fast_leaves_out_every_tier_and_pyproject_registers_each():
    makefile = (ROOT / "Makefile").read_text()
    fast = re.search(r"^FAST := (.*)$", makefile, re.MULTILINE)
    assert fast, "Makefile: FAST (the -m expression of make test-fast) not found"
    assert set(re.findall(r"\bnot (\w+)", fast.group(1))) == set(TIER_MARKERS)
    assert fast.group(1).strip() == " and ".join(f"not {m}" for m in re.findall(r"\bnot (\w+)", fast.group(1)))
    assert re.search(r'^test-fast:.*\n\t.*-m "\$\(FAST\)" tests$', makefile, re.MULTILINE)
    registered = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["markers"]
    assert {line.split(":")[0] for line in registered} == set(TIER_MARKERS)


def test_a_test_that_reaches_a_server_fixture_without_its_marker_fails(tmp_path):
    """What collection cannot see (request.getfixturevalue): the guard in tests/conftest.py."""
    (tmp_path / "test_reach.py").write_text(textwrap.dedent('''
        import pytest

        @pytest.fixture
        def postgres_url():  # stands in for the server: the guard goes by the fixture's name
            return "postgresql://nowhere"

        def test_unmarked(request):
            request.getfixturevalue("postgres_url")

        @pytest.mark.needs_postgres
        def test_marked(request):
            request.getfixturevalue("postgres_url")
    '''))
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    needs_postgres\n")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",
                          "--basetemp", str(tmp_path / "basetemp"), "-c", str(tmp_path / "pytest.ini"),
                          "--rootdir", str(tmp_path), str(tmp_path / "test_reach.py")],
                         cwd=ROOT, env=_clean_env(), capture_output=True, text=True, timeout=300)
    assert "2 passed, 1 error in" in run.stdout, run.stdout[-3000:]  # the error: at test_unmarked's teardown
    assert "ERROR at teardown of test_unmarked" in run.stdout, run.stdout[-3000:]
    assert "test_unmarked used postgres_url without the marker needs_postgres" in run.stdout, run.stdout[-3000:]
