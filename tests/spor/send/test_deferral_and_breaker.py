"""Retries that do not block and the circuit breaker (docs/state-machine.md, docs/adr/0005):
a registration that fails transiently goes back with a not-before time while the thread sends
the others; when most recent answers are transient, the batch pauses every thread, probes with
one request and closes again, or stops with "SPOR unavailable" and the rows waiting (transient).
A scripted TEST DOUBLE client (tests/spor/state_fixtures.py) on a fixed clock that only moves
when a request takes time or a wait is slept."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from spor.clock import STOCKHOLM
from spor.send.batch import RetryPolicy, send_planned_batch
from spor.send.breaker import BreakerPolicy, CircuitBreaker
from spor.send.windows import SendingWindow
from spor.state import batches, outbox
from spor.state.tables import outbox as outbox_t
from tests.metrics_support import record_metrics
from tests.spor.state_fixtures import FakeRegistration, ScriptedClient, created, transient

ENV = "stage"
MANUAL = SendingWindow.for_run(has_deadline=False, started_at=None)


@pytest.fixture
def sleeper(clock):
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 3))
        clock.advance(seconds=seconds)

    sleep.slept = slept
    return sleep


def plan(db, n: int) -> int:
    outbox.stage(db, "r1", ENV, [FakeRegistration(str(1000 + i)) for i in range(n)])
    (bid,) = batches.plan(db, "r1", ENV, 1000, 1)
    return bid


def test_deferred_retry_lets_other_rows_through_while_one_is_failing(state_db, clock, sleeper):
    """R19-bounded backoff no longer holds the thread: 1000 fails twice, 1001-1004 go out meanwhile."""
    clock.instant = datetime(2025, 3, 3, 14, 0, tzinfo=STOCKHOLM)
    bid = plan(state_db, 5)
    client = ScriptedClient(clock, script={"1000": [transient(), transient()]}, advance_s=0.1)
    res = send_planned_batch(bid, db=state_db, client=client, clock=clock, window=MANUAL,
                             block_check=lambda b: set(), threads=1, sleeper=sleeper,
                             retry=RetryPolicy(base_delay_s=2))
    assert [bn for bn, _ in client.sent] == ["1000", "1001", "1002", "1003", "1004", "1000", "1000"]
    assert res.by_state == {"created": 5} and res.waiting_by_reason == {}
    # While 1000 was deferred the thread sent four others (0.4 s), so it waited only the rest.
    assert sleeper.slept == [1.6, 4.0]
    with state_db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(outbox_t)).scalar() == 0


def test_a_deferred_row_whose_retry_would_cross_the_blackout_waits_transient(state_db, clock, sleeper):
    clock.instant = datetime(2025, 3, 3, 5, 14, 50, tzinfo=STOCKHOLM)
    bid = plan(state_db, 3)
    client = ScriptedClient(clock, script={"1001": [transient()]}, advance_s=0.1)
    res = send_planned_batch(bid, db=state_db, client=client, clock=clock, window=MANUAL,
                             block_check=lambda b: set(), threads=2, sleeper=sleeper,
                             retry=RetryPolicy(base_delay_s=30))
    assert res.by_state == {"created": 2} and res.waiting_by_reason == {"transient": 1}
    assert sleeper.slept == []


def down_until(clock, until: datetime):
    """SPOR answers 503 to everything until ``until`` on the clock, then accepts."""
    def answer(bn):
        if clock.now() < until:
            raise transient()
        return created(bn)
    return answer


def test_circuit_breaker_opens_probes_with_one_request_and_closes(state_db, clock, sleeper):
    start = datetime(2025, 3, 3, 14, 0, tzinfo=STOCKHOLM)
    clock.instant = start
    bid = plan(state_db, 40)
    up_at = datetime(2025, 3, 3, 14, 0, 17, tzinfo=STOCKHOLM)
    client = ScriptedClient(clock, default=down_until(clock, up_at), advance_s=1.0)
    policy = BreakerPolicy(window=10, min_answers=10, open_share=0.5, probe_after_s=5, give_up_after_s=120)
    res = send_planned_batch(bid, db=state_db, client=client, clock=clock, window=MANUAL,
                             block_check=lambda b: set(), threads=1, sleeper=sleeper, breaker=policy,
                             retry=RetryPolicy(max_attempts=10, base_delay_s=1, max_delay_s=4))
    assert res.breaker == ["open", "half_open", "open", "half_open", "closed"]
    assert res.by_state == {"created": 40} and res.waiting_by_reason == {}
    times = [(t - start).total_seconds() for _, t in client.sent]
    # Ten failures open it at 10 s; while open only the two probes leave: at 15 s (fails at 16 s, pause doubles to 10 s) and at 26 s.
    assert times[:10] == [float(s) for s in range(10)]
    assert times[10:12] == [15.0, 26.0]
    assert all(t > 26 for t in times[12:])


def test_the_breaker_counts_one_opening_however_often_its_probes_fail(state_db, clock, sleeper, monkeypatch):
    """docs/metrics.md: it tripped once; the failed probe re-opened it without a new opening. Every
    failed request counts as a transient failure; only answers are timed; no deadline, no margin."""
    recorder = record_metrics(monkeypatch)
    clock.instant = datetime(2025, 3, 3, 14, 0, tzinfo=STOCKHOLM)
    bid = plan(state_db, 40)
    client = ScriptedClient(clock, default=down_until(clock, datetime(2025, 3, 3, 14, 0, 17, tzinfo=STOCKHOLM)),
                            advance_s=1.0)
    policy = BreakerPolicy(window=10, min_answers=10, open_share=0.5, probe_after_s=5, give_up_after_s=120)
    res = send_planned_batch(bid, db=state_db, client=client, clock=clock, window=MANUAL,
                             block_check=lambda b: set(), threads=1, sleeper=sleeper, breaker=policy,
                             retry=RetryPolicy(max_attempts=10, base_delay_s=1, max_delay_s=4))
    assert res.breaker.count("open") == 2
    assert recorder.values("spor.breaker_openings.stage") == [1]
    assert recorder.values("spor.transient_failures.stage") == [len(client.sent) - 40] == [11]
    assert recorder.values("spor.registrations.stage.created") == [40]
    assert len(recorder.values("spor.answer_latency.stage")) == 40
    assert recorder.values("spor.deadline_minutes_left.stage") == []


def test_circuit_breaker_gives_up_spor_unavailable_and_the_rows_wait_transient(state_db, clock, sleeper):
    clock.instant = datetime(2025, 3, 3, 14, 0, tzinfo=STOCKHOLM)
    bid = plan(state_db, 30)
    client = ScriptedClient(clock, default=down_until(clock, datetime(2025, 3, 4, tzinfo=STOCKHOLM)), advance_s=1.0)
    policy = BreakerPolicy(window=10, min_answers=10, probe_after_s=5, max_probe_after_s=20, give_up_after_s=60)
    res = send_planned_batch(bid, db=state_db, client=client, clock=clock, window=MANUAL,
                             block_check=lambda b: set(), threads=3, sleeper=sleeper, breaker=policy,
                             retry=RetryPolicy(max_attempts=10, base_delay_s=1))
    assert res.stopped == "unavailable" and res.by_state == {}
    assert res.waiting_by_reason == {"transient": 30}
    assert len(client.sent) <= 10 + 2 + 5, "after it opened, only probes went out"
    with state_db.read() as conn:
        assert {r[0] for r in conn.execute(sa.select(outbox_t.c.wait_reason))} == {"transient"}
        assert conn.execute(sa.select(sa.func.count()).select_from(outbox_t)
                            .where(outbox_t.c.batch_id.is_not(None))).scalar() == 0


def test_breaker_stays_closed_at_five_percent_transient():
    breaker = CircuitBreaker(BreakerPolicy())
    for i in range(2000):
        breaker.record(i % 20 == 0, float(i))
    assert breaker.state == "closed" and breaker.transitions == []


def test_a_later_batch_of_a_run_that_found_spor_unavailable_probes_once_and_gives_up(state_db, clock, sleeper):
    """An earlier batch gave up ("SPOR unavailable"): the next one does not spend another give-up
    time and another window of failures on a SPOR that is still down: one probe, then it stops."""
    clock.instant = datetime(2025, 3, 3, 14, 0, tzinfo=STOCKHOLM)
    bid = plan(state_db, 30)
    client = ScriptedClient(clock, default=down_until(clock, datetime(2025, 3, 4, tzinfo=STOCKHOLM)), advance_s=1.0)
    res = send_planned_batch(bid, db=state_db, client=client, clock=clock, window=MANUAL,
                             block_check=lambda b: set(), threads=1, sleeper=sleeper, spor_down=True)
    assert len(client.sent) == 1, "more than the one probe went to an unavailable SPOR"
    assert res.stopped == "unavailable" and res.breaker == ["open", "half_open", "open"]
    assert res.waiting_by_reason == {"transient": 30}
    assert sum(sleeper.slept) <= BreakerPolicy().probe_after_s * 2   # seconds, not another give-up time


def test_a_later_batch_finds_spor_back_on_its_probe_and_sends_everything(state_db, clock, sleeper):
    clock.instant = datetime(2025, 3, 3, 14, 0, tzinfo=STOCKHOLM)
    bid = plan(state_db, 12)
    client = ScriptedClient(clock, advance_s=0.1)
    res = send_planned_batch(bid, db=state_db, client=client, clock=clock, window=MANUAL,
                             block_check=lambda b: set(), threads=3, sleeper=sleeper, spor_down=True)
    assert res.breaker == ["open", "half_open", "closed"] and res.stopped is None
    assert res.by_state == {"created": 12}


def test_the_breakers_pause_lasts_its_time_on_the_runs_clock_not_the_wall_clock():
    """A simulated clock running 30x: the 5 s pause before a probe is a sixth of a real second."""
    from datetime import UTC, datetime

    from spor.clock import FixedClock, SimulatedClock
    from spor.send.batch import _real_seconds

    fast = SimulatedClock(start=datetime(2026, 1, 15, tzinfo=UTC), speed=30)
    assert abs(_real_seconds(fast, 5.0) - 5.0 / 30) < 1e-6
    assert abs(_real_seconds(FixedClock(datetime(2026, 1, 15, tzinfo=UTC)), 5.0) - 5.0) < 0.01
    assert _real_seconds(SimulatedClock(start=datetime(2026, 1, 15, tzinfo=UTC), speed=1e-6), 5.0) == 60.0
