"""Personal data at rest (docs/state-machine.md): the extracted treatments a run hands over through
the state database (``spor_extracted``) are gone when the run ends, whatever its outcome, and what
a crashed run left is removed by the next run's extraction. spor_nightly with dag.test()."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.dags.nightly_support import environment, load_dag, night_settings, start_night, xcom

NIGHT = "2025-12-01T01:00:00+01:00"


@pytest.fixture
def night(tmp_path, standin_pki, airflow_db):
    night = start_night(tmp_path, standin_pki, n=60, seed=13)
    yield night
    night.standin.stop()


def _state(night, clock=None):
    from spor.state import database as statedb

    return statedb.connect(f"sqlite:///{night.env.state_db}", clock=clock)


def _handover_rows(night) -> dict[str, int]:
    from spor.state.tables import extracted

    db = _state(night)
    try:
        with db.read() as conn:
            rows = conn.execute(sa.select(extracted.c.run_id, sa.func.count()).group_by(extracted.c.run_id)).all()
    finally:
        db.dispose()
    return {run_id: n for run_id, n in rows}


def test_personal_data_at_rest_a_failed_run_leaves_no_extracted_rows(night):
    """The build fails (the unit mapping is not JSON) after extract and the gate have read the
    hand-over: the run fails, and summarize (trigger rule all_done) has removed every row."""
    dag = load_dag("spor_nightly")
    settings = night_settings(night, NIGHT)
    settings["AIRFLOW_VAR_SPOR_UNITS"] = "{not json"
    with environment(settings):
        run = dag.test(logical_date=None)
    assert run.state == "failed", run.state
    assert xcom(run, "extract")["handed_over"] > 0, "the run handed treatments over before it failed"
    assert xcom(run, "quality_gate")["checked"] > 0
    assert _handover_rows(night) == {}
    db = _state(night)
    from spor.state import run_summary

    assert run_summary.load(db, "spor_nightly", run.run_id) is not None, "summarize ran"
    db.dispose()


def test_personal_data_at_rest_a_crashed_runs_rows_are_removed_by_the_next_extraction(night):
    """A run killed between extract and build never reaches its summary. The next run's
    extraction removes its rows once they are older than STALE_AFTER; a concurrent run's young
    rows stay (it may still be between its extract and its build)."""
    from spor.clock import FixedClock
    from spor.extract import handover

    class Leftover:
        def __init__(self, number: str):
            self.behandlingsnummer = number
            self.row = {"personnummer": "191212121212", "v310": "2025-11-30 10:00:00"}
            self.children = {"diagnos": ["K35.8"]}

    start = datetime.fromisoformat(NIGHT)
    crashed_at = start - handover.STALE_AFTER - timedelta(minutes=5)
    for run_id, at in (("crashed-run", crashed_at), ("concurrent-run", start - timedelta(minutes=10))):
        db = _state(night, clock=FixedClock(at))
        handover.put(db, run_id, [Leftover(f"{run_id}-{i}") for i in range(3)])
        db.dispose()
    assert _handover_rows(night) == {"crashed-run": 3, "concurrent-run": 3}

    dag = load_dag("spor_nightly")
    with environment(night_settings(night, NIGHT)):
        run = dag.test(logical_date=None)
    assert run.state == "success", run.state
    assert xcom(run, "extract")["handed_over"] > 0
    assert _handover_rows(night) == {"concurrent-run": 3}
