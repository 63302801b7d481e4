"""Standard output of the ``spor`` commands is their output, nothing else: every JSON report kind
parses as JSON, every HTML one starts with the document, ``render`` prints its verdict lines and
its count; log lines (Alembic's, Great Expectations', Airflow's) go to standard error, and below
WARNING only with ``--verbose``. Run as an operator runs it: the installed ``spor`` console
script, in a new environment that has only the virtual environment on PATH."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from spor.cli.main import SUMMARY, report_kinds
from spor.state import database as statedb
from spor.state import runlog, summary
from spor.synthetic import generate

SPOR = Path(sys.executable).parent / "spor"
RUN_ID = "scheduled__2025-12-01T23:30:00+00:00"
HTML_KINDS = ("quality", "stage-approval")
JSON_KINDS = tuple(k for k in report_kinds() if k.endswith("-json") or k == summary.DRY_RUN)
#: What the logging of Alembic, Great Expectations and Airflow looks like on a line.
LOG_LINE = re.compile(r"Context impl|non-transactional DDL|great_expectations|Loading 'datasources'|\[(info|warning|debug)\s*\]")


def spor(work: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": f"{SPOR.parent}:/usr/bin:/bin", "HOME": str(work), "AIRFLOW_HOME": str(work / "airflow"),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    return subprocess.run([str(SPOR), *args], cwd=work, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def state(tmp_path_factory) -> str:
    """A state database with one run's reports of every kept kind."""
    work = tmp_path_factory.mktemp("reports")
    url = f"sqlite:///{work / 'state.sqlite'}"
    db = statedb.connect(url)
    for kind in report_kinds():
        if kind in HTML_KINDS:
            runlog.save_report(db, "spor_nightly", RUN_ID, kind, f"<!DOCTYPE html><html><body>{kind}</body></html>")
        elif kind in JSON_KINDS:
            runlog.save_report(db, "spor_nightly", RUN_ID, kind, json.dumps({"kind": kind}), "application/json")
    db.dispose()
    return url


def test_a_json_and_an_html_report_are_alone_on_standard_output(state, tmp_path):
    """One of each (a process costs seconds); tests/scripts/test_demo_workplace.py runs every kind."""
    assert set(HTML_KINDS) | set(JSON_KINDS) | {SUMMARY} == set(report_kinds()), "a new kind: say what it prints"
    for kind in ("quality-json", "quality"):
        run = spor(tmp_path, "report", "--state", state, "--run-id", RUN_ID, "--kind", kind)
        assert run.returncode == 0, run.stderr[-2000:]
        if kind in JSON_KINDS:
            assert json.loads(run.stdout) == {"kind": kind}, run.stdout[:500]
        else:
            assert run.stdout.lower().startswith("<!doctype html>"), run.stdout[:500]
        assert not LOG_LINE.search(run.stdout) and not LOG_LINE.search(run.stderr), (run.stdout + run.stderr)[:2000]


def test_verbose_logs_go_to_standard_error(state, tmp_path):
    run = spor(tmp_path, "report", "--verbose", "--state", state, "--run-id", RUN_ID, "--kind", "quality-json")
    assert run.returncode == 0 and json.loads(run.stdout) == {"kind": "quality-json"}
    assert "Context impl SQLiteImpl" in run.stderr  # Alembic's line, where it belongs


def test_help_lists_every_report_kind(tmp_path):
    for args in (("--help",), ("report", "--help")):
        run = spor(tmp_path, *args)
        assert run.returncode == 0, run.stderr
        text = re.sub(r"-\s+", "-", " ".join(run.stdout.split()))  # argparse wraps after a hyphen
        assert all(kind in text for kind in report_kinds()), (args, run.stdout)


def test_render_prints_only_its_verdict_lines_and_count(tmp_path):
    db = tmp_path / "ops.sqlite"
    manifest = generate(f"sqlite:///{db}", n=150, seed=1)
    run = spor(tmp_path, "render", "--db", f"sqlite:///{db}", "--out", str(tmp_path / "out"), "--all",
               "--units", json.dumps(manifest.units))
    assert run.returncode == 0, run.stderr[-2000:]
    *verdicts, count = run.stdout.splitlines()
    assert re.fullmatch(r"rendered \d+ \(warned \d+\), quarantined \d+, .*blocked \d+", count), count
    line = re.compile(r"^\S+\s+(quarantined|not_buildable|identity_unknown|warned)\s+\[[^\]]+\] .+$")
    assert verdicts and all(line.match(v) for v in verdicts), run.stdout[:3000]
    assert not LOG_LINE.search(run.stderr), run.stderr[:2000]
