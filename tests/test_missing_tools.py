"""`make test` on a fresh machine: the tests that need xmllint, PostgreSQL or MariaDB skip with a
one-line reason when those are absent, and with CI=true (where `.ci/run` installs and starts them)
the same absence fails the run instead of hiding behind a skip.

Runs a few of the real tests in a child pytest with a PATH that holds no tools and database URLs
that point at a closed port, exactly what a laptop without libxml2-utils or a database server sees.
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT

NEEDS_TOOLS = [
    "tests/spor/registration/test_message.py::test_built_message_passes_xmllint",
    "tests/spor/registration/test_schema_files.py::test_hand_written_message_is_valid_lxml_and_xmllint",
    "tests/spor/hooks/test_state.py::test_postgres_connection_as_the_readme_writes_it_with_schema_name",
    "tests/spor/hooks/test_state.py::test_sqlite_connection_as_documented",
]
CLOSED_PORT_POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:1/test"


def _child_pytest(tmp_path, *, ci: bool) -> subprocess.CompletedProcess:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "CI", "SPOR_TEST_")) and k != "PATH"}
    env |= {"PATH": str(empty_bin), "SPOR_TEST_POSTGRES_URL": CLOSED_PORT_POSTGRES}
    if ci:
        env["CI"] = "true"
    # its own --basetemp: a numbered one would rotate away the running suite's temporary files
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                           "--basetemp", str(tmp_path / f"basetemp-{ci}"), *NEEDS_TOOLS],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_without_xmllint_and_postgresql_the_run_passes_and_names_why_it_skipped(tmp_path):
    run = _child_pytest(tmp_path, ci=False)
    assert run.returncode == 0, run.stdout[-3000:]
    skipped = [line for line in run.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skipped) == 3, run.stdout[-3000:]
    assert sum("xmllint not installed (Debian package libxml2-utils)" in line for line in skipped) == 2
    assert any(f"PostgreSQL at {CLOSED_PORT_POSTGRES} not reachable" in line for line in skipped)
    assert "1 passed, 3 skipped" in run.stdout  # what needs neither still runs


def test_in_ci_a_missing_xmllint_or_postgresql_fails_the_run(tmp_path):
    run = _child_pytest(tmp_path, ci=True)
    assert run.returncode == 1, run.stdout[-3000:]
    assert "CI=true but xmllint not installed" in run.stdout
    assert f"CI=true but PostgreSQL at {CLOSED_PORT_POSTGRES} not reachable" in run.stdout
    assert "1 passed, 3 errors" in run.stdout  # fixture failures: pytest counts them as errors
