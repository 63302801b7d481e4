"""The nightly first (ADR 0002 "The nightly first"): a backfill has staged and planned its rows
and has not sent them when a nightly starts; the nightly sends its own registrations before the
backfill's, though the backfill's waited longer.

The backfill runs are the real CLI's (`airflow backfill create`), executed with dag.test()'s own
loop (nightly_support.run_backfill_run) with their send tasks and summary marked successful
instead of run: what stays is a backfill that staged and planned and was cut off before sending.
The nightly then runs for real against the stand-in with one thread per batch, so the stand-in's
order of receipt is the send order."""

from __future__ import annotations

import sqlite3

import pytest

from tests.dags.nightly_support import (
    ClockScript,
    backfill_create,
    environment,
    finish_backfill,
    load_dag,
    night_settings,
    received,
    run_backfill_run,
    scripted_settings,
    start_night,
)

DAYTIME = "2026-01-20T10:00:00+01:00"
NIGHT = "2026-01-21T00:30:00+01:00"
ONE_THREAD = {"threads_per_task": 1, "overlap_minutes": 0, "batches_per_run": 4}


@pytest.fixture
def night(tmp_path, standin_pki, airflow_db):
    night = start_night(tmp_path, standin_pki, n=90, seed=5, days=3)
    yield night
    night.standin.stop()


def _outbox(night) -> dict[str, tuple[int, str]]:
    with sqlite3.connect(night.env.state_db) as conn:
        return {bn: (prio, run) for bn, prio, run in
                conn.execute("SELECT behandlingsnummer, priority, staged_run_id FROM spor_outbox")}


def test_a_nightly_started_during_a_backfill_sends_its_own_registrations_first(night):
    # The backfill of 1 and 2 November: staged and planned, nothing sent yet.
    # "completed": other tests of this session may have run these nights already.
    runs = backfill_create("spor_nightly", "2025-11-01", "2025-11-03", reprocess="completed")
    assert len(runs) == 2, runs
    try:
        for created in runs:
            script = ClockScript(DAYTIME, speed=1)
            dag = script.attach(load_dag("spor_nightly"))
            with environment(scripted_settings(night, script, config=ONE_THREAD)):
                run_backfill_run(dag, created, mark_success_pattern="send_batch|summarize")
    finally:
        finish_backfill("spor_nightly")
    backfilled = _outbox(night)
    assert backfilled and received(night) == []
    assert {prio for prio, _ in backfilled.values()} == {-20}, "a backfill stages below the nightly"
    assert all(run.startswith("backfill__") for _, run in backfilled.values())

    # The nightly has sent up to 3 November; tonight it reads what changed since.
    from spor.state import watermark
    from spor.state.database import connect

    watermark.advance(connect(f"sqlite:///{night.env.state_db}"), watermark.NIGHTLY, "2025-11-03 00:00:00")
    with environment(night_settings(night, NIGHT, config=ONE_THREAD)):
        dr = load_dag("spor_nightly").test(logical_date=None)
    assert dr.state == "success", dr.state

    order = [r["behandlingsnummer"] for r in received(night)]
    own = [bn for bn in order if bn not in backfilled]
    assert own, "the nightly had registrations of its own"
    assert set(order) == set(own) | set(backfilled), "everything waiting was sent"
    # Its own first: every registration of the night before any of the backfill's.
    assert order[:len(own)] == own, order
