"""Capacity planning (issue 4 point 3): does the window suffice for the outbox at the recent latency
and concurrency (pool slots x threads per task)? And what is sent first when it does not."""

from __future__ import annotations

import re
from datetime import datetime

from spor.clock import STOCKHOLM
from spor.lifecycle import State
from spor.send.capacity import estimate, estimate_from_db
from spor.send.windows import SendingWindow
from spor.state import attempts, batches, outbox
from tests.spor.state_fixtures import FakeAnswer, FakeRegistration

START = datetime(2025, 3, 3, 1, 0, tzinfo=STOCKHOLM)
NIGHTLY = SendingWindow.for_run(has_deadline=True, started_at=START)


def test_enough_window_no_warning():
    est = estimate(outbox_size=5000, latency_s=0.05, pool_slots=2, threads_per_task=4,
                   now=datetime(2025, 3, 3, 4, 0, tzinfo=STOCKHOLM), window=NIGHTLY)
    assert est.concurrency == 8 and est.throughput_per_s == 128.0   # 8 / 0.05 s x 0.8
    assert est.available_s == 3600 and est.fits and est.warning is None and est.sendable == 5000


def test_window_too_short_warns_with_numbers_not_people():
    est = estimate(outbox_size=500_000, latency_s=0.05, pool_slots=2, threads_per_task=4,
                   now=datetime(2025, 3, 3, 4, 30, tzinfo=STOCKHOLM), window=NIGHTLY)
    assert not est.fits and est.sendable == int(1800 * 128.0)
    assert "500000 registrations" in est.warning and "pool slots" in est.warning
    assert not re.search(r"\d{10,12}", est.warning.replace("500000", ""))   # no identity-like numbers


def test_blocked_now_means_nothing_fits():
    est = estimate(outbox_size=10, latency_s=0.05, pool_slots=1, threads_per_task=1,
                   now=datetime(2025, 3, 3, 5, 30, tzinfo=STOCKHOLM), window=NIGHTLY)
    assert not est.fits and est.sendable == 0 and "blocked now (blackout)" in est.warning


def test_dst_spring_night_has_an_hour_less(clock):
    spring = SendingWindow.for_run(has_deadline=True, started_at=datetime(2025, 3, 30, 1, 0, tzinfo=STOCKHOLM))
    est = estimate(outbox_size=1, latency_s=0.05, pool_slots=1, threads_per_task=1,
                   now=datetime(2025, 3, 30, 1, 0, tzinfo=STOCKHOLM), window=spring)
    assert est.available_s == 3 * 3600


def test_estimate_from_db_uses_outbox_size_and_recent_median_latency(state_db):
    est = estimate_from_db(state_db, "stage", pool_slots=2, threads_per_task=4, now=START, window=NIGHTLY)
    assert est.outbox_size == 0 and est.latency_source == "default"
    outbox.stage(state_db, "r1", "stage", [FakeRegistration(str(i)) for i in range(3)])
    (bid,) = batches.plan(state_db, "r1", "stage", 10, 1)
    for reg, lat in zip(batches.owned_rows(state_db, bid), [0.1, 0.2, 0.9]):
        lid = attempts.record_attempt(state_db, reg, run_id="r1", batch_id=bid)
        attempts.record_answer(state_db, lid, reg, FakeAnswer(State.CREATED, "OK", f"Skapade: {reg.behandlingsnummer}", elapsed_s=lat))
    outbox.stage(state_db, "r2", "stage", [FakeRegistration(str(i)) for i in range(100, 110)])
    est = estimate_from_db(state_db, "stage", pool_slots=2, threads_per_task=4, now=START, window=NIGHTLY)
    assert est.outbox_size == 10 and est.latency_s == 0.2 and est.latency_source == "ledger median (n=3)"


def test_send_order_when_not_everything_fits_oldest_first(state_db, clock):
    """What the deadline left waiting last night goes out first tonight."""
    outbox.stage(state_db, "night1", "stage", [FakeRegistration(n) for n in ("900", "901")])
    clock.advance(days=1)
    outbox.stage(state_db, "night2", "stage", [FakeRegistration(n) for n in ("100", "101", "102")])
    est = estimate(outbox_size=outbox.size(state_db, "stage"), latency_s=1.0, pool_slots=1, threads_per_task=1,
                   now=datetime(2025, 3, 4, 4, 59, 57, tzinfo=STOCKHOLM),
                   window=SendingWindow.for_run(has_deadline=True, started_at=datetime(2025, 3, 4, 1, 0, tzinfo=STOCKHOLM)),
                   efficiency=1.0)
    assert est.sendable == 3 and not est.fits
    (bid,) = batches.plan(state_db, "night2", "stage", est.sendable, 1)
    assert [r.behandlingsnummer for r in batches.owned_rows(state_db, bid)] == ["900", "901", "100"]
