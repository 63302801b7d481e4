"""One night of ``spor_nightly`` through a real scheduler: PostgreSQL for Airflow and for the state;
CeleryExecutor with Redis as the broker and two (or more) Celery workers, or LocalExecutor. Shared by ``make demo-celery``,
the distributed test and the Celery benchmark."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from devenv import ROOT, LocalEnv
from devenv import stack as stacks


@dataclass
class NightResult:
    run_id: str
    state: str
    summary: dict | None
    summary_text: str
    batches_by_worker: dict[str, list[int]] = field(default_factory=dict)
    received: int = 0
    wall_s: float = 0.0
    during: Any = None          # what the ``during`` callback returned


@dataclass
class NightStack:
    """A running stack of ``night_stack``: its processes, the state database and the run environment."""

    stack: stacks.Stack
    state_url: sa.URL           # psycopg2 driver, for reading the state database from here
    env: dict[str, str]


@contextmanager
def night_stack(env: LocalEnv, manifest: Any, *, night: str, executor: str = "celery", workers: int = 2,
                redis_db: int = 5, latency_ms: float = 20.0, prefix: str = "spor_celery", config: dict | None = None,
                pool_slots: int | None = None, spor_extra: dict | None = None,
                log: Callable[[str], None] = lambda _m: None,
                worker_queues: list[str] | None = None,
                airflow_config: dict[str, str] | None = None,
                pools: dict[str, int] | None = None) -> Iterator[NightStack]:
    """Fresh PostgreSQL databases for Airflow and the state, the stand-in, and the scheduler,
    dag-processor, triggerer and API server (with ``workers`` Celery workers for "celery"), the
    clock at ``night``; ``spor_nightly`` is parsed and unpaused. Stops everything on exit.
    ``pools``: more pools to create (name: slots), e.g. the backfill pool."""
    import redis

    from standin.server import start_subprocess

    metadata_url = stacks.fresh_postgres_database(f"{prefix}_airflow")
    state_url = sa.make_url(stacks.fresh_postgres_database(f"{prefix}_state"))
    if executor == "celery":
        redis.Redis.from_url(f"{stacks.REDIS_URL}/{redis_db}").flushdb()  # our own database number only
    clock = {"SPOR_CLOCK_START": night, "SPOR_CLOCK_ANCHOR": str(time.time()), "SPOR_CLOCK_SPEED": "1"}
    standin = start_subprocess(["--pki", str(env.pki), "--received", str(env.received), "--port", "0",
                                "--latency-ms", str(latency_ms), "--system-ids", ",".join(manifest.units.values())],
                               env=os.environ | clock)
    stack = None
    try:
        env.endpoint = standin.url
        state_conn = {"conn_type": "postgres", "host": state_url.host, "port": state_url.port,
                      "login": state_url.username, "schema": state_url.database, "extra": {"schema_name": "spor"}}
        run_env = (os.environ | env.airflow_settings() | env.connections(spor_extra=spor_extra) | clock
                   | (stacks.celery_settings(metadata_url=metadata_url, redis_db=redis_db) if executor == "celery"
                      else stacks.local_settings(metadata_url=metadata_url))
                   | {"AIRFLOW_CONN_SPOR_STATE": json.dumps(state_conn),
                      "AIRFLOW_VAR_SPOR_CONFIG": json.dumps(config or {}),
                      "AIRFLOW__CORE__PARALLELISM": str(max(4, workers * 2))}
                   | (airflow_config or {}))
        stack = stacks.Stack(home=env.airflow_home, env=run_env, logs=env.base / "logs")
        env.airflow_home.mkdir(parents=True, exist_ok=True)
        log("== Airflow metadata database on PostgreSQL, the 'spor' pool …")
        stack.airflow("db", "migrate")
        stack.airflow("pools", "import", str(ROOT / "pools.json"))
        if pool_slots:
            stack.airflow("pools", "set", "spor", str(pool_slots), "spor send batches")
        for name, slots in (pools or {}).items():
            stack.airflow("pools", "set", name, str(slots), "spor")
        log("== scheduler, dag-processor, triggerer, API server" + (f" and {workers} Celery workers …" if executor == "celery" else " …"))
        stack.start_core()
        if executor == "celery":
            names = [f"w{i + 1}" for i in range(workers)]
            queues = (worker_queues or []) + ["default"] * workers
            for name, listens_on in zip(names, queues):
                stack.start_celery_worker(name, queues=listens_on)
            stack.ping_workers(names)
        stack.wait_for_dag("spor_nightly")
        stack.airflow("dags", "unpause", "spor_nightly")
        yield NightStack(stack, state_url.set(drivername="postgresql+psycopg2"), run_env)
        stack.airflow("dags", "pause", "spor_nightly")
    finally:
        if stack is not None:
            stack.stop()
        standin.stop()


def run_night_on_stack(env: LocalEnv, manifest: Any, *, night: str, executor: str = "celery", workers: int = 2,
                       redis_db: int = 5,
                        latency_ms: float = 20.0, prefix: str = "spor_celery", config: dict | None = None,
                        pool_slots: int | None = None, spor_extra: dict | None = None,
                        log: Callable[[str], None] = lambda _m: None,
                        keep_databases: bool = True,
                        during: Callable[[stacks.Stack, str, sa.URL], Any] | None = None,
                        worker_queues: list[str] | None = None,
                        airflow_config: dict[str, str] | None = None) -> NightResult:
    """Run one night through the real scheduler (``executor`` "celery" with ``workers`` Celery workers, or
    "local" for LocalExecutor); returns its outcome. Stops everything it started. ``during(stack,
    run_id, state_url)`` runs right after the trigger, while the night runs (e.g. to kill a worker).
    ``worker_queues``: the queues each Celery worker listens on (default: the default queue);
    ``airflow_config``: more environment for every process (e.g. ``AIRFLOW__SPOR__CERTIFICATE_QUEUE``)."""
    with night_stack(env, manifest, night=night, executor=executor, workers=workers, redis_db=redis_db,
                     latency_ms=latency_ms, prefix=prefix, config=config, pool_slots=pool_slots,
                     spor_extra=spor_extra, log=log, worker_queues=worker_queues,
                     airflow_config=airflow_config) as running:
        stack = running.stack
        run_id = f"manual__{executor}_{int(time.time())}"
        log(f"== triggering spor_nightly ({run_id}) through the scheduler …")
        started = time.perf_counter()
        stack.airflow("dags", "trigger", "spor_nightly", "--run-id", run_id)
        seen = during(stack, run_id, running.state_url) if during else None
        state = stack.wait_for_run("spor_nightly", run_id, timeout=3600)
        wall = time.perf_counter() - started
    result = _outcome(running.state_url, run_id, state, env, wall)
    result.during = seen
    if not keep_databases:
        for name in (f"{prefix}_airflow", f"{prefix}_state"):
            stacks.drop_postgres_database(name)
    return result


def _outcome(state_url: sa.URL, run_id: str, state: str, env: LocalEnv, wall: float) -> NightResult:
    from spor.state import database, run_summary
    from spor.state.summary import render_text

    db = database.connect(state_url, schema="spor", upgrade=False)
    try:
        saved = run_summary.load(db, "spor_nightly", run_id)
        workers = batch_workers(db, run_id)
    finally:
        db.dispose()
    received = sum(1 for _ in env.received.glob("*.xml"))
    return NightResult(run_id, state, saved, render_text(saved) if saved else "(no summary saved)", workers,
                       received, wall)


def batch_workers(db, run_id: str) -> dict[str, list[int]]:
    """Which worker ran each send batch of the run (batch numbers per worker name)."""
    from spor.state.tables import batch

    with db.read() as conn:
        rows = conn.execute(sa.select(batch.c.number, batch.c.owner_worker).where(batch.c.run_id == run_id)).all()
    out: dict[str, list[int]] = {}
    for number, owner in rows:
        out.setdefault(owner or "?", []).append(number)
    return out
