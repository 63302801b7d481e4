"""Shared setup for the end-to-end DAG tests: a LocalEnv with stand-in, OPS and connections."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

from devenv import LocalEnv, make_ops
from tests.conftest import DAGS


@dataclass
class Night:
    env: LocalEnv
    manifest: Any
    standin: Any


def load_dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    from spor.notifications.deadline import for_dag_test

    bag = DagBag(dag_folder=str(DAGS / f"{dag_id}.py"))
    assert not bag.import_errors, bag.import_errors
    return for_dag_test(bag.dags[dag_id])  # dag.test() cannot finish a run with a deadline


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def start_night(tmp_path: Path, pki, *, n: int = 200, seed: int = 7, latency_ms: float = 0.0, days: int = 30,
                **standin_kwargs: Any) -> Night:
    import shutil

    from standin.server import StandinConfig, run_in_thread

    env = LocalEnv(base=tmp_path)
    shutil.copytree(pki.dir, env.pki)  # the session's test PKI, under this night's folder
    manifest = make_ops(env, n=n, seed=seed, days=days)
    server = run_in_thread(StandinConfig(pki_dir=env.pki, received_dir=env.received, latency_ms=latency_ms,
                                         system_ids=frozenset(manifest.units.values()), **standin_kwargs))
    env.endpoint = server.url
    return Night(env, manifest, server)


def night_settings(night: Night, clock_start: str, *, speed: float = 1.0, config: dict | None = None,
                   spor_extra: dict | None = None) -> dict[str, str]:
    import json
    import time

    values = night.env.connections(spor_extra=spor_extra)
    values.update({
        "SPOR_CLOCK_START": clock_start,
        "SPOR_CLOCK_ANCHOR": str(time.time()),
        "SPOR_CLOCK_SPEED": str(speed),
        "AIRFLOW_VAR_SPOR_CONFIG": json.dumps(config or {}),
    })
    return values


# --- helpers for the issue-4 acceptance tests (windows, backfill, resend, PII) ---------------------
def received(night: Night) -> list[dict]:
    """The stand-in's index: one entry per request it received (receive time on the simulated clock)."""
    return night.standin.received.index()


class EnvClock:
    """The clock the tasks see (``spor.clock.clock_from_env``), re-read on every call.

    The stand-in runs in this process; giving it this clock makes its ``received_at`` the same
    simulated time the DAG's tasks use, also after a test moves the clock (ClockScript)."""

    def now(self):
        from spor.clock import clock_from_env

        return clock_from_env().now()


def share_clock(night: Night) -> None:
    night.standin.server.received.clock = EnvClock()


class ClockScript:
    """Test scaffolding for the simulated clock (``SPOR_CLOCK_*``, read by every task and the stand-in).

    While the run extracts, checks, builds and plans, the clock stands (almost) still at
    ``prepare_at``; when ``release_task`` starts (its ``on_execute_callback``, public Airflow API)
    it jumps to ``send_at`` and runs ``speed`` times real time. So what a test asserts about the
    sending window does not depend on how long the preparation took on this machine. Release at
    ``plan_batches`` when the run must wait for the window (the sensor's target is computed there
    from the running clock); release at ``send_batch`` to start sending at an exact position.
    """

    STOPPED = 1e-6  # "standing still": SimulatedClock needs a speed > 0 for real_instant()

    def __init__(self, prepare_at: str, send_at: str | None = None, *, speed: float = 1.0,
                 release_task: str = "send_batch"):
        self.prepare_at, self.send_at = prepare_at, send_at or prepare_at
        self.speed, self.release_task = speed, release_task
        self.released_real: float | None = None

    def env(self) -> dict[str, str]:
        import time

        return {"SPOR_CLOCK_START": self.prepare_at, "SPOR_CLOCK_ANCHOR": str(time.time()),
                "SPOR_CLOCK_SPEED": str(self.STOPPED)}

    def release(self, context: Any = None) -> None:
        import time

        if self.released_real is not None:  # mapped tasks call it once per batch
            return
        self.released_real = time.time()
        os.environ.update({"SPOR_CLOCK_START": self.send_at, "SPOR_CLOCK_ANCHOR": str(self.released_real),
                           "SPOR_CLOCK_SPEED": str(self.speed)})

    def attach(self, dag: Any) -> Any:
        task = dag.task_dict[self.release_task]
        if hasattr(task, "partial_kwargs"):  # a mapped task: callbacks live in its partial kwargs
            task.partial_kwargs["on_execute_callback"] = [self.release]
        else:
            task.on_execute_callback = [self.release]
        return dag


def scripted_settings(night: Night, script: ClockScript, *, config: dict | None = None,
                      spor_extra: dict | None = None) -> dict[str, str]:
    """``night_settings`` with the clock of ``script``; the stand-in follows the same clock."""
    values = night_settings(night, script.prepare_at, config=config, spor_extra=spor_extra)
    values.update(script.env())
    share_clock(night)
    return values


def outbox(night: Night) -> dict[str, str]:
    """behandlingsnummer -> wait reason of every registration waiting in the outbox."""
    import sqlite3

    with sqlite3.connect(night.env.state_db) as conn:
        return dict(conn.execute("SELECT behandlingsnummer, wait_reason FROM spor_outbox"))


def held_back(night: Night, run_id: str | None = None) -> dict[str, str]:
    """behandlingsnummer -> state of what a run held back (withdrawn, quarantined, ...)."""
    import sqlite3

    sql, args = "SELECT behandlingsnummer, state FROM spor_held_back", ()
    if run_id is not None:
        sql, args = sql + " WHERE run_id = ?", (run_id,)
    with sqlite3.connect(night.env.state_db) as conn:
        return dict(conn.execute(sql, args))


# --- backfill: the real `airflow backfill create`, its runs executed like dag.test() -----------------
def sync_dags_to_db() -> None:
    """Serialize the DAGs folder into the metadata DB (what the DAG processor does; dag.test() does
    it too) so that `airflow backfill create` finds spor_nightly."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db

    manager = DagBundlesManager()
    manager.sync_bundles_to_db()
    for bundle in manager.get_all_dag_bundles():
        if not bundle.is_initialized:
            bundle.initialize()
        bag = BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name)
        sync_bag_to_db(bag, bundle.name, bundle.version)


def backfill_create(dag_id: str, from_date: str, to_date: str, *, conf: dict | None = None,
                    reprocess: str = "none") -> list[Any]:
    """Run the real CLI ``airflow backfill create`` (same AIRFLOW_HOME) and return the DagRuns it
    created (run type ``backfill``, state queued), oldest first."""
    import json
    import subprocess
    import sys

    from airflow.models.backfill import Backfill
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    sync_dags_to_db()
    cmd = [sys.executable, "-m", "airflow", "backfill", "create", "--dag-id", dag_id, "--from-date", from_date,
           "--to-date", to_date, "--reprocess-behavior", reprocess]
    if conf is not None:
        cmd += ["--dag-run-conf", json.dumps(conf)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    with create_session() as session:
        backfill = session.scalars(select(Backfill).where(Backfill.dag_id == dag_id)
                                   .order_by(Backfill.id.desc())).first()
        runs = session.scalars(select(DagRun).where(DagRun.backfill_id == backfill.id)
                               .order_by(DagRun.logical_date)).all()
        session.expunge_all()
    return list(runs)


def run_backfill_run(the_dag: Any, dag_run: Any, **test_kwargs: Any) -> Any:
    """Execute a DagRun created by `backfill create` in this process, with dag.test()'s own loop.

    There is no scheduler here. dag.test() always *creates* a manual run; the one thing replaced
    is that creation (``airflow.models.dagrun.get_or_create_dagrun``, which dag.test imports at
    call time): it hands over the backfill's queued run instead, set running as a scheduler would.
    Everything the tasks see (run type ``backfill``, logical date, conf) is what the CLI created."""
    from unittest import mock

    import airflow.models.dagrun as dagrun_module
    from airflow.models.dagrun import DagRun
    from airflow.utils.state import DagRunState
    from sqlalchemy import select

    def take_over_backfill_run(*, dag: Any, session: Any, **_: Any) -> Any:
        dr = session.scalar(select(DagRun).where(DagRun.id == dag_run.id))
        dr.state = DagRunState.RUNNING
        session.commit()
        dr.dag = dag  # as create_dagrun leaves it
        return dr

    with mock.patch.object(dagrun_module, "get_or_create_dagrun", take_over_backfill_run):
        return the_dag.test(logical_date=dag_run.logical_date, **test_kwargs)


def finish_backfill(dag_id: str) -> None:
    """Mark the latest backfill completed, as the scheduler does when its runs are done (only one
    backfill per DAG may be active)."""
    from datetime import datetime

    from airflow.models.backfill import Backfill
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        for backfill in session.scalars(select(Backfill).where(Backfill.dag_id == dag_id,
                                                               Backfill.completed_at.is_(None))):
            backfill.completed_at = datetime.now(UTC)


def xcom(dag_run: Any, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
    """A task's XCom value from Airflow's metadata DB (what the UI shows)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        row = session.scalars(select(XComModel).where(
            XComModel.dag_id == dag_run.dag_id, XComModel.run_id == dag_run.run_id,
            XComModel.task_id == task_id, XComModel.key == key, XComModel.map_index == map_index)).first()
        return None if row is None else XComModel.deserialize_value(row)
