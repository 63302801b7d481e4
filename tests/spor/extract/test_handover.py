"""The hand-over through the state database holds personal data, so it never outlives its run:
a crashed run's rows are removed by the next extraction once older than ``STALE_AFTER``
(docs/state-machine.md, "Personal data at rest"). SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy as sa

from spor.extract import handover
from spor.state.tables import extracted

PNR = "191212121212"  # the Tax Agency's public test number


@dataclass
class Treatment:
    behandlingsnummer: str
    row: dict = field(default_factory=lambda: {"personnummer": PNR, "v310": "2025-03-01 10:00:00"})
    children: dict = field(default_factory=lambda: {"diagnos": ["K35.8"]})


def _put(db, run_id: str, *numbers: str) -> None:
    handover.put(db, run_id, [Treatment(n) for n in numbers])


def test_personal_data_at_rest_rows_carry_the_time_extraction_wrote_them(state_db, clock):
    _put(state_db, "run-1", "1", "2")
    with state_db.read() as conn:
        stamps = conn.execute(sa.select(extracted.c.extracted_at)).scalars().all()
    assert stamps == [clock.now(), clock.now()]


def test_personal_data_at_rest_a_crashed_runs_rows_are_removed_after_the_bound(state_db, clock):
    _put(state_db, "crashed", "1", "2", "3")
    clock.advance(seconds=handover.STALE_AFTER.total_seconds() + 60)
    _put(state_db, "live", "4")
    assert handover.clear_stale(state_db, "next") == 3
    assert handover.count(state_db, "crashed") == 0
    assert handover.count(state_db, "live") == 1  # a run still between extract and build keeps its rows


def test_personal_data_at_rest_young_rows_of_another_run_are_kept(state_db, clock):
    """A concurrent run (a resend beside the nightly run) may be between its extract and its build."""
    _put(state_db, "other", "1", "2")
    clock.advance(seconds=handover.STALE_AFTER.total_seconds() - 60)
    assert handover.clear_stale(state_db, "next") == 0
    assert handover.count(state_db, "other") == 2


def test_personal_data_at_rest_the_callers_own_rows_are_never_stale(state_db, clock):
    _put(state_db, "mine", "1")
    clock.advance(seconds=2 * handover.STALE_AFTER.total_seconds())
    assert handover.clear_stale(state_db, "mine") == 0
    assert handover.count(state_db, "mine") == 1


def test_personal_data_at_rest_rows_from_before_the_time_was_kept_count_as_stale(state_db):
    _put(state_db, "old-release", "1")
    with state_db.write() as conn:
        conn.execute(extracted.update().values(extracted_at=None))
    assert handover.clear_stale(state_db, "next", older_than=timedelta(days=365)) == 1
    assert handover.count(state_db, "old-release") == 0
