"""Every benchmark in bench/ still runs: each script started as `make bench` starts it, with tiny
inputs (seconds of work, not minutes), must exit 0 and print its result. The numbers themselves are
not checked (they are the machine's; docs/performance.md). Result files go to a temporary
directory (`--results`), never into bench/results/ of the checkout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import ROOT

BENCH = ROOT / "bench"
#: The small night every Airflow benchmark runs: a few dozen treatments, a fast stand-in.
SMALL_NIGHT = ["--treatments", "40", "--latency-ms", "5", "--threads", "2", "--batches", "2"]


def _bench(script: str, *args: str, tmp_path: Path, timeout: float = 600) -> str:
    """Runs bench/SCRIPT in a child process; its temporary files (TMPDIR) under tmp_path; returns stdout."""
    # Not this test run's Airflow settings (tests/conftest.py): the benchmark sets up its own.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTEST_"))}
    env |= {"TMPDIR": str(tmp_path), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"}
    results = BENCH / "results"
    before = {p.name: p.stat().st_size for p in results.iterdir()} if results.is_dir() else {}
    done = subprocess.run([sys.executable, str(BENCH / script), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)
    after = {p.name: p.stat().st_size for p in results.iterdir()} if results.is_dir() else {}
    assert done.returncode == 0, f"{script} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert after == before, f"{script} wrote into {results}"
    return done.stdout


def _result(stdout: str) -> dict:
    """The JSON object a benchmark prints last (one line, or indented over several)."""
    lines = stdout.rstrip().splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("{"))
    return json.loads("\n".join(lines[start:]))


def test_bench_build(tmp_path):
    out = _bench("bench_build.py", "--n", "50", "--repeat", "1", tmp_path=tmp_path)
    assert "registrations: 50" in out and "total per registration:" in out


def test_bench_send(tmp_path):
    result = _result(_bench("bench_send.py", "-n", "20", "-c", "2", "--latency-ms", "5", tmp_path=tmp_path))
    assert result["n"] == 20 and result["states"] == {"created": 20} and result["errors"] == 0


def test_bench_gate(tmp_path):
    result = _result(_bench("bench_gate.py", "--rows", "200", tmp_path=tmp_path))
    assert result["rows"] > 0 and result["gx_import_s"] >= 0 and "validation_s" in result


def _nightly(tmp_path: Path, *executor: str) -> dict:
    results = tmp_path / "results"
    result = _result(_bench("bench_nightly.py", *SMALL_NIGHT, "--dir", str(tmp_path / "night"), "--results", str(results),
                            *executor, tmp_path=tmp_path))
    assert result["state"].endswith("success") and result["sent"] > 0, result
    assert json.loads((results / "bench_nightly.jsonl").read_text().splitlines()[-1]) == result
    return result


@pytest.mark.parametrize("executor", [[], ["--executor", "local"]], ids=["dag.test", "local"])
def test_bench_nightly(tmp_path, executor):
    result = _nightly(tmp_path, *executor)
    assert result["executor"] == ("LocalExecutor" if executor else "dag.test")


def test_bench_nightly_on_celery(tmp_path, services):
    prefix = f"spor_bench_t_{uuid.uuid4().hex[:6]}"  # several checkouts may share the server
    result = _nightly(tmp_path, "--executor", "celery", "--workers", "1", "--prefix", prefix, "--redis-db", "8",
                      "--drop-databases")
    assert result["executor"] == "CeleryExecutor" and result["workers"] == 1


def test_bench_soak(tmp_path):
    results = tmp_path / "results"
    # 20 ms as in the real soak: sending lasts long enough for the kill to land in the middle of it.
    summary = _result(_bench("bench_soak.py", "--treatments", "60", "--latency-ms", "20", "--threads", "2", "--batches", "2",
                             "--dir", str(tmp_path / "soak"), "--results", str(results), tmp_path=tmp_path,
                             timeout=1500))  # four nights: under stress-ng beside the suite they took over 600 s
    nights = {n["night"]: n for n in summary["nights"]}
    assert set(nights) == {"fault_free", "503_and_resets_5pct", "with_hangs_5pct", "sigkill_and_rerun"}
    for night in nights.values():
        assert night["state"] and all(s.endswith("success") for s in night["state"]), night
        assert night["lost"] == 0, night
    assert (results / "bench_soak.jsonl").is_file()


def test_bench_backfill_priority(tmp_path):
    results = tmp_path / "results"
    result = _result(_bench("bench_backfill_priority.py", "--backfill", "120", "--nightly", "20", "--latency-ms", "5",
                            "--slots", "1", "--threads", "2", "--batches", "2", "--head-start-s", "0.2",
                            "--dir", str(tmp_path / "bench"), "--results", str(results), tmp_path=tmp_path))
    scenarios = {s["scenario"]: s for s in result["scenarios"]}
    assert set(scenarios) == {"alone", "own_pool", "shared_pool"}
    assert all(s["nightly_in_window"] and s["nightly_s"] > 0 for s in scenarios.values()), scenarios
    assert scenarios["own_pool"]["backfill_s"] > 0 and scenarios["own_pool"]["nightly_ratio_to_alone"] > 0
    assert json.loads((results / "bench_backfill_priority.jsonl").read_text().splitlines()[-1]) == result


def test_bench_backfill_local(tmp_path, services):
    """R19, the nightly first: the real scheduler on LocalExecutor runs a backfill of two days and,
    while it sends, the nightly; the nightly's registrations are all accepted before 05:00."""
    results = tmp_path / "results"
    prefix = f"spor_bbl_t_{uuid.uuid4().hex[:6]}"  # several checkouts may share the server
    result = _result(_bench("bench_backfill_local.py", "--backfill", "300", "--nightly", "30", "--days", "2",
                            "--latency-ms", "5", "--slots", "1", "--threads", "2", "--batches", "2",
                            "--head-start-s", "1", "--prefix", prefix, "--dir", str(tmp_path / "bench"),
                            "--results", str(results), tmp_path=tmp_path, timeout=1500))
    scenarios = {s["scenario"]: s for s in result["scenarios"]}
    assert set(scenarios) == {"alone", "own_pool"}
    for s in scenarios.values():
        assert s["nightly"]["state"] == "success" and s["nightly"]["before_0500"], s
        assert s["nightly"]["accepted"] == result["nightly_treatments"] == 30, s
    backfill = scenarios["own_pool"]["backfill"]
    assert backfill["runs"] == 2 and backfill["failed_runs"] == 0 and backfill["accepted"] > 0, backfill
    assert json.loads((results / "bench_backfill_local.jsonl").read_text().splitlines()[-1]) == result
