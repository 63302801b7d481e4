"""What the task bodies need, built without Airflow: a run, a task instance that keeps XCom in a
dict, a state database and an OPS on SQLite (generated treatments), the unit mapping, settings, a
SPOR connection for the stand-in given as an ``AIRFLOW_CONN_*`` variable (what a worker without
database access sees), and Airflow-shaped task contexts for the decorator's own tests."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from spor.clock import STOCKHOLM, FixedClock
from spor.extract.source import SourceReader
from spor.lineage.report import TaskLineage
from spor.registration.units import UnitMapping
from spor.settings import Settings
from spor.state import database as statedb
from spor.synthetic import Manifest, generate
from spor.tasks.runinfo import MANUAL, RunInfo

#: A night of the demo's kind: 01:00 Stockholm, long before 05:00.
NIGHT = datetime(2025, 12, 1, 1, 0, tzinfo=STOCKHOLM)
CONN_ID = "spor_task_test"


@dataclass
class FakeTi:
    """Airflow's task instance as the bodies use it: XCom by (task id, key), and run states."""

    xcom: dict[tuple[str | None, str], Any] = field(default_factory=dict)
    task_id: str | None = None
    run_states: dict[tuple[str, str], str] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        json.dumps(value)  # XCom must be JSON: a body that pushes anything else fails here too
        self.xcom[(self.task_id, key)] = value

    def xcom_pull(self, task_ids: str | None = None, key: str = "return_value") -> Any:
        return self.xcom.get((task_ids, key))

    def get_dagrun_state(self, dag_id: str, run_id: str) -> str:
        return self.run_states.get((dag_id, run_id), "running")


def make_run(run_id: str = "manual__1", *, dag_id: str = "spor_nightly", mode: str = MANUAL,
             params: dict[str, Any] | None = None, run_after: datetime = NIGHT,
             logical_date: datetime | None = None) -> RunInfo:
    return RunInfo(dag_id=dag_id, run_id=run_id, mode=mode, logical_date=logical_date, run_after=run_after,
                   params=params or {})


def airflow_context(run: RunInfo, ti: FakeTi | None = None, run_type: str = "manual") -> dict[str, Any]:
    """A task context of the shape Airflow hands a running task (what runinfo.from_context reads)."""
    dag_run = SimpleNamespace(dag_id=run.dag_id, run_id=run.run_id, run_type=run_type, run_after=run.run_after,
                              conf=dict(run.params))
    return {"dag_run": dag_run, "params": {}, "logical_date": run.logical_date, "ti": ti or FakeTi()}


@dataclass
class Ops:
    reader: SourceReader
    manifest: Manifest
    units: UnitMapping


def make_ops(path: Path, *, n: int = 60, seed: int = 7) -> Ops:
    """A generated OPS on SQLite: ``n`` treatments with the defects the pipeline must catch."""
    url = f"sqlite:///{path}"
    manifest = generate(url, n=n, seed=seed)
    return Ops(SourceReader.from_url(url), manifest, UnitMapping(manifest.units))


def spor_connection(monkeypatch: pytest.MonkeyPatch, url: str, pki: Any, *, environment: str = "stage",
                    conn_id: str = CONN_ID) -> str:
    """A ``spor`` connection to the stand-in, as an environment variable."""
    extra = {"endpoint": url, "environment": environment, "cert_file": str(pki.dir / "client.pem"),
             "key_file": str(pki.dir / "client.key"), "ca_bundle": str(pki.ca_cert)}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "spor", "extra": extra}))
    return conn_id


def settings(**overrides: Any) -> Settings:
    return Settings(**{"spor_conn_id": CONN_ID, "min_batch_size": 10, "batches_per_run": 2, **overrides})


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NIGHT)


@pytest.fixture
def db(tmp_path: Path, clock: FixedClock):
    """A fresh state database on SQLite (the bodies do not depend on the dialect; the state tests
    cover PostgreSQL)."""
    database = statedb.connect(f"sqlite:///{tmp_path / 'state.sqlite'}", clock=clock)
    yield database
    database.dispose()


@pytest.fixture
def ops(tmp_path: Path) -> Ops:
    return make_ops(tmp_path / "ops.sqlite")


@dataclass
class Night:
    """One run's inputs, as the bodies name them, on a generated OPS."""

    run: RunInfo
    db: Any
    ops: Ops
    clock: FixedClock
    settings: Settings
    ti: FakeTi = field(default_factory=FakeTi)
    environment: str = "stage"
    lineage: TaskLineage = field(default_factory=TaskLineage)

    def call(self, fn: Any, *args: Any, **given: Any) -> Any:
        """Calls ``fn``'s body with the inputs it names, as the decorator would."""
        import inspect

        from spor.hooks.spor import SporHook

        self.ti.task_id = fn.task_id
        available = {"run": self.run, "db": self.db, "reader": self.ops.reader, "clock": self.clock,
                     "settings": self.settings, "units": self.ops.units, "environment": self.environment,
                     "known_environment": self.environment, "ti": self.ti, "context": {},
                     "run_finished": lambda dag_id, run_id: False, "lineage": self.lineage,
                     "hook": SporHook(spor_conn_id=self.settings.spor_conn_id)}
        needs = [p.name for p in inspect.signature(fn.body).parameters.values() if p.kind is p.KEYWORD_ONLY]
        return fn.body(*args, **{name: given.get(name, available.get(name)) for name in needs})
