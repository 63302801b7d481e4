"""Backfill (issue 4 point 5, ADR 0002): `airflow backfill create --dag-id spor_nightly --from-date D1
--to-date Dn` sends, for each day, the treatments whose last change (andrad_tid, Swedish wall
clock) falls on that day, when they differ from SPOR's last final answer in that environment; with
`--dag-run-conf '{"force": true}'` it sends them anyway.

How the runs are made and run here (the honest option that fits a test's time):
* the runs are created by the real CLI, `python -m airflow backfill create ...`, against this
  session's metadata DB: run type `backfill`, the logical dates and the conf are Airflow's own;
* there is no scheduler, so each created run is executed in this process by dag.test()'s own loop
  (``nightly_support.run_backfill_run``): only dag.test()'s "create a manual run" step is replaced
  by "take the backfill's queued run". A run-conf switch ("pretend to be a backfill") would have
  tested a path production never takes; a scheduler + executor per test would take minutes.

The synthetic OPS holds 90 treatments last changed on 1, 2 and 3 November 2025.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from spor.clock import STOCKHOLM
from tests.dags.nightly_support import (
    ClockScript,
    backfill_create,
    environment,
    finish_backfill,
    held_back,
    load_dag,
    outbox,
    received,
    run_backfill_run,
    scripted_settings,
    start_night,
)

DAYTIME = "2026-01-20T10:00:00+01:00"


@pytest.fixture
def night(tmp_path, standin_pki, airflow_db):
    night = start_night(tmp_path, standin_pki, n=90, seed=5, days=3)
    yield night
    night.standin.stop()


def changed_on(night, day: str) -> set[str]:
    """What the manifest says the run for ``day`` must send: changed that local day, buildable, unblocked."""
    rendered = night.manifest.expected_rendered()
    return {b for b, e in night.manifest.treatments.items() if e.andrad_tid.startswith(day) and b in rendered}


def backfill(night, from_date: str, to_date: str, *, conf: dict | None = None, reprocess: str = "none") -> list:
    """Create the backfill with the CLI and run its runs oldest first; returns [(local day, dag run, sent)]."""
    runs = backfill_create("spor_nightly", from_date, to_date, conf=conf, reprocess=reprocess)
    done = []
    try:
        for created in runs:
            assert str(created.run_type) in ("backfill", "DagRunType.BACKFILL_JOB"), created.run_type
            before = len(received(night))
            script = ClockScript(DAYTIME, speed=1)
            dag = script.attach(load_dag("spor_nightly"))
            with environment(scripted_settings(night, script)):
                dr = run_backfill_run(dag, created)
            # the run at 00:30 on local day D+1 is the night after day D
            day = (created.logical_date.astimezone(STOCKHOLM).date() - timedelta(days=1)).isoformat()
            sent = [r for r in received(night)[before:]]
            done.append((day, dr, sent))
    finally:
        finish_backfill("spor_nightly")
    return done


def nightly_watermark(night) -> list:
    import sqlite3

    with sqlite3.connect(night.env.state_db) as conn:
        return list(conn.execute("SELECT * FROM spor_watermark"))


def quarantined(night, dr) -> set[str]:
    return {b for b, s in held_back(night, dr.run_id).items() if s != "warned"}


def test_backfill_fills_a_fresh_environment_day_by_day_then_sends_nothing_again_unless_forced(night):
    """Backfill (ADR 0002, R5): a fresh environment is filled one local day per run, each run sending
    exactly the treatments last changed on its day and leaving the nightly watermark alone; the
    same backfill again sends nothing (SPOR's last final answer holds that content); with force in
    the run conf everything goes again."""
    # As the README says: days 1-3 November are --from-date 2025-11-01 --to-date 2025-11-04 (the
    # runs at 00:30 Stockholm on 2-4 November are the nights after 1-3 November).
    first = backfill(night, "2025-11-01", "2025-11-04")
    days = [day for day, _, _ in first]
    assert days == ["2025-11-01", "2025-11-02", "2025-11-03"], days
    for day, dr, sent in first:
        assert dr.state == "success", (day, dr.state)
        got = {r["behandlingsnummer"] for r in sent}
        assert got == changed_on(night, day) - quarantined(night, dr), day
        assert all(r["outcome"] == "created" for r in sent), Counter(r["outcome"] for r in sent)
    assert outbox(night) == {}
    assert nightly_watermark(night) == [], "a backfill moved the nightly watermark (ADR 0002)"
    total = len(received(night))
    assert total > 0

    again = backfill(night, "2025-11-01", "2025-11-04", reprocess="completed")
    assert [day for day, _, _ in again] == days
    assert all(dr.state == "success" for _, dr, _ in again)
    assert len(received(night)) == total, "a backfill over days already sent sent something again"

    forced = backfill(night, "2025-11-01", "2025-11-04", conf={"force": True}, reprocess="completed")
    for day, dr, sent in forced:
        assert dr.state == "success", (day, dr.state)
        got = {r["behandlingsnummer"] for r in sent}
        assert got == changed_on(night, day) - quarantined(night, dr), day
        assert all(r["outcome"] == "updated" for r in sent), "force resends what SPOR already holds"
