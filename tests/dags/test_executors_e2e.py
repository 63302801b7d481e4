"""The same night three ways — ``dag.test``, LocalExecutor, CeleryExecutor with Redis, PostgreSQL for
Airflow and for the state, two Celery workers — gives the same registrations accepted and the same
counts per state; on Celery the send batches run on both workers, nothing is sent twice, and no task
leaves a file on a worker's disk for another task to read (hand-over through the state database)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from devenv import LocalEnv, make_ops
from tests.dags.nightly_support import environment, load_dag, night_settings, start_night

pytestmark = pytest.mark.xdist_group("airflow-stack")

NIGHT = "2025-12-01T01:00:00+01:00"
N, SEED = 300, 3


def _accepted(received_dir: Path) -> dict[str, str]:
    from standin.recorder import read_index

    entries = read_index(received_dir)
    numbers = [e["behandlingsnummer"] for e in entries]
    assert len(numbers) == len(set(numbers)), "a registration was sent twice"
    return {e["behandlingsnummer"]: e["outcome"] for e in entries}


def _states(summary: dict) -> dict:
    return {k: v for k, v in summary["by_state"].items() if v}


def _embedded(tmp_path, pki, *, use_executor: bool = False):
    from spor.state import database, run_summary

    night = start_night(tmp_path, pki, n=N, seed=SEED)
    try:
        settings = night_settings(night, NIGHT)
        with environment(settings):
            run = load_dag("spor_nightly").test(logical_date=None, use_executor=use_executor)
        assert run.state == "success", run.state
        db = database.connect(f"sqlite:///{night.env.state_db}", upgrade=False)
        summary = run_summary.load(db, "spor_nightly", run.run_id)
        db.dispose()
        return _accepted(night.env.received), _states(summary)
    finally:
        night.standin.stop()


def _stack_env(base: Path, pki):
    import shutil

    env = LocalEnv(base)
    base.mkdir()
    shutil.copytree(pki.dir, env.pki)
    return env, make_ops(env, n=N, seed=SEED)


def test_same_night_same_result_under_dag_test_local_and_celery_with_batches_on_both_workers(
        tmp_path, standin_pki, airflow_db, services):
    from devenv.distributed import run_night_on_stack

    by_way = {"dag.test": _embedded(tmp_path / "dagtest", standin_pki, use_executor=False)}
    local = _stack_env(tmp_path / "local", standin_pki)
    result = run_night_on_stack(local[0], local[1], night=NIGHT, executor="local",
                                prefix=f"spor_t_{uuid.uuid4().hex[:6]}", keep_databases=False)
    assert result.state == "success", f"see {local[0].base / 'logs'}"
    by_way["LocalExecutor"] = (_accepted(local[0].received), _states(result.summary))

    env, manifest = _stack_env(tmp_path / "celery", standin_pki)
    # SPOR at 400 ms makes a batch take seconds: one worker cannot finish a batch before the
    # scheduler hands the next one out (which it did at 20 ms, while the other ran another task).
    result = run_night_on_stack(env, manifest, night=NIGHT, executor="celery", workers=2, redis_db=6,
                                prefix=f"spor_t_{uuid.uuid4().hex[:6]}", pool_slots=2, keep_databases=False,
                                latency_ms=400)
    assert result.state == "success", f"see {env.base / 'logs'}"
    by_way["celery"] = (_accepted(env.received), _states(result.summary))

    workers = {w for w in result.batches_by_worker if w != "?"}
    assert len(workers) == 2, f"send batches ran on {result.batches_by_worker}"
    assert sum(map(len, result.batches_by_worker.values())) >= 2
    for worker_dir in (env.airflow_home / "workers").iterdir():
        left = [p for p in (worker_dir / "tmp").rglob("*") if p.is_file()]
        assert not left, f"a task left files on {worker_dir.name}'s disk: {left[:5]}"

    reference = by_way["dag.test"]
    for way, outcome in by_way.items():
        assert outcome[0] == reference[0], f"{way} accepted other registrations than dag.test"
        assert outcome[1] == reference[1], f"{way} counts per state {outcome[1]} != dag.test {reference[1]}"
    assert set(by_way["celery"][0]) <= manifest.expected_rendered()
    assert not set(by_way["celery"][0]) & set(manifest.blocked())
