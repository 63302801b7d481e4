"""The batch send loop (issue 3 point 3, issue 4 point 2) on SQLite and PostgreSQL with a scripted
TEST DOUBLE client (tests/spor/state_fixtures.py) and a fixed clock: block list re-read, windows
before every send and retry, bounded backoff, certificate stop, systemic stop."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from spor.clock import STOCKHOLM
from spor.errors import BlockListUnavailable, CertificateError, SystemicError
from spor.send.batch import RetryPolicy, SystemicRule, send_planned_batch
from spor.send.windows import SendingWindow
from spor.state import attempts, batches, outbox, run_summary
from spor.state.tables import ledger as ledger_t
from spor.state.tables import outbox as outbox_t
from tests.metrics_support import record_metrics
from tests.spor.state_fixtures import FakeRegistration, ScriptedClient, cert_rejected, created, malformed, transient, unknown_system

ENV = "stage"
RUN_START = datetime(2025, 3, 3, 1, 0, tzinfo=STOCKHOLM)
NIGHTLY = SendingWindow.for_run(has_deadline=True, started_at=RUN_START)
MANUAL = SendingWindow.for_run(has_deadline=False, started_at=None)


def nobody_blocked(bns):
    return set()


def plan(db, n: int, run_id: str = "r1", batch_size: int = 1000, first: int = 1000) -> list[int]:
    outbox.stage(db, run_id, ENV, [FakeRegistration(str(first + i)) for i in range(n)])
    return batches.plan(db, run_id, ENV, batch_size, 100)


def waiting(db) -> dict[str, str]:
    with db.read() as conn:
        return dict(conn.execute(sa.select(outbox_t.c.behandlingsnummer, outbox_t.c.wait_reason)).all())


def outcomes(db) -> list[tuple[str, str | None]]:
    with db.read() as conn:
        return [tuple(r) for r in conn.execute(sa.select(ledger_t.c.behandlingsnummer, ledger_t.c.outcome)
                                               .order_by(ledger_t.c.id))]


@pytest.fixture
def sleeper(clock):
    """Backoff sleeps move the fixed clock instead of waiting."""
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds=seconds)

    sleep.slept = slept
    return sleep


def send(db, bid, client, clock, window=NIGHTLY, **kw):
    kw.setdefault("block_check", nobody_blocked)
    return send_planned_batch(bid, db=db, client=client, clock=clock, window=window, **kw)


def test_batch_sent_once_each_with_four_threads(state_db, clock):
    (bid,) = plan(state_db, 40)
    client = ScriptedClient(clock)
    res = send(state_db, bid, client, clock, threads=4)
    assert res.by_state == {"created": 40} and res.attempted == 40 and res.stopped is None
    assert sorted(bn for bn, _ in client.sent) == sorted(str(1000 + i) for i in range(40))
    assert waiting(state_db) == {}


def test_a_nightly_batch_sends_its_metrics_when_it_ends(state_db, clock, monkeypatch):
    """docs/metrics.md: the answers by outcome (zeros too), one latency per answer, no transient
    failure or breaker opening, and the minutes left before 05:00 when the batch ended."""
    recorder = record_metrics(monkeypatch)
    clock.instant = datetime(2025, 3, 3, 4, 0, tzinfo=STOCKHOLM)
    (bid,) = plan(state_db, 5)
    send(state_db, bid, ScriptedClient(clock, advance_s=6), clock, threads=1)   # ends at 04:00:30
    assert {stat: recorder.values(stat) for stat in (
        "spor.registrations.stage.created", "spor.registrations.stage.updated", "spor.registrations.stage.rejected",
        "spor.registrations.stage.malformed", "spor.transient_failures.stage", "spor.breaker_openings.stage",
        "spor.deadline_minutes_left.stage")} == {
        "spor.registrations.stage.created": [5], "spor.registrations.stage.updated": [0],
        "spor.registrations.stage.rejected": [0], "spor.registrations.stage.malformed": [0],
        "spor.transient_failures.stage": [0], "spor.breaker_openings.stage": [0],
        "spor.deadline_minutes_left.stage": [59.5]}
    assert len(recorder.values("spor.answer_latency.stage")) == 5


def test_r11_block_list_reread_before_sending_withdraws_blocked(state_db, clock):
    """A block added between staging and sending keeps that registration off the wire."""
    (bid,) = plan(state_db, 3)
    client = ScriptedClient(clock)
    res = send(state_db, bid, client, clock, block_check=lambda bns: {"1001"} & set(bns))
    assert "1001" not in [bn for bn, _ in client.sent] and res.withdrawn == 1
    assert run_summary.counts(state_db, "r1").by_state["withdrawn"] == 1


def test_r11_unreadable_block_list_sends_nothing(state_db, clock):
    (bid,) = plan(state_db, 3)
    client = ScriptedClient(clock)

    def broken(bns):
        raise BlockListUnavailable("block list could not be read")

    with pytest.raises(BlockListUnavailable):
        send(state_db, bid, client, clock, block_check=broken)
    assert client.sent == [] and len(waiting(state_db)) == 3
    assert batches.plan(state_db, "r2", ENV, 10, 1)  # released for the next run


def test_r19_nightly_stops_at_the_deadline_and_leaves_the_rest_waiting(state_db, clock):
    clock.instant = datetime(2025, 3, 3, 4, 57, tzinfo=STOCKHOLM)
    (bid,) = plan(state_db, 6)
    client = ScriptedClient(clock, advance_s=60)    # each request takes a minute
    res = send(state_db, bid, client, clock, threads=1)
    assert [t.strftime("%H:%M") for _, t in client.sent] == ["04:57", "04:58", "04:59"]
    assert res.stopped == "deadline" and res.waiting_by_reason == {"deadline": 3}
    assert sorted(waiting(state_db).values()) == ["deadline"] * 3


@pytest.mark.parametrize("hhmm,nightly_sent,manual_sent", [
    ("04:59", 2, 2), ("05:00", 0, 2), ("05:15", 0, 0), ("05:59", 0, 0), ("06:00", 0, 2),
])
def test_r19_clock_positions_nothing_sent_in_blackout_or_after_deadline(state_db, clock, hhmm, nightly_sent, manual_sent):
    h, m = map(int, hhmm.split(":"))
    for window, expected in ((NIGHTLY, nightly_sent), (MANUAL, manual_sent)):
        clock.instant = datetime(2025, 3, 3, h, m, tzinfo=STOCKHOLM)
        run_id = f"r-{window.has_deadline}"
        (bid,) = plan(state_db, 2, run_id=run_id, first=2000 if window.has_deadline else 3000)
        client = ScriptedClient(clock)
        res = send(state_db, bid, client, clock, window=window)
        assert len(client.sent) == expected
        for _, t in client.sent:
            assert window.allows(t)
        if expected == 0:
            reason = window.reason_blocked(clock.now()).value
            assert res.waiting_by_reason == {reason: 2} and set(waiting(state_db).values()) == {reason}
        with state_db.write() as conn:   # clean slate for the other window
            conn.execute(outbox_t.delete())


def test_r19_retry_in_flight_at_0514_never_crosses_into_the_blackout(state_db, clock, sleeper):
    """05:14:58 a 503; the 2 s backoff would end at 05:15:00: not started, left waiting(transient)."""
    clock.instant = datetime(2025, 3, 3, 5, 14, 58, tzinfo=STOCKHOLM)
    (bid,) = plan(state_db, 2)
    client = ScriptedClient(clock, script={"1000": [transient()], "1001": [transient()]})
    res = send(state_db, bid, client, clock, window=MANUAL, threads=1, sleeper=sleeper,
               retry=RetryPolicy(base_delay_s=2))
    assert sleeper.slept == [] and len(client.sent) == 2
    assert all(t < datetime(2025, 3, 3, 5, 15, tzinfo=STOCKHOLM) for _, t in client.sent)
    assert res.waiting_by_reason == {"transient": 2}


def test_transient_error_retried_with_backoff_then_answered(state_db, clock, sleeper):
    clock.instant = datetime(2025, 3, 3, 5, 14, 0, tzinfo=STOCKHOLM)
    (bid,) = plan(state_db, 1)
    client = ScriptedClient(clock, script={"1000": [transient(), transient()]})
    res = send(state_db, bid, client, clock, window=MANUAL, sleeper=sleeper, retry=RetryPolicy(base_delay_s=2))
    assert sleeper.slept == [2, 4] and res.by_state == {"created": 1}
    assert outcomes(state_db) == [("1000", "transient_error"), ("1000", "transient_error"), ("1000", "created")]


def test_transient_errors_exhaust_retries_and_wait_for_the_next_run(state_db, clock, sleeper):
    (bid,) = plan(state_db, 1)
    client = ScriptedClient(clock, default=lambda bn: (_ for _ in ()).throw(transient()))
    res = send(state_db, bid, client, clock, sleeper=sleeper, retry=RetryPolicy(max_attempts=4, base_delay_s=1))
    assert sleeper.slept == [1, 2, 4] and len(client.sent) == 4
    assert res.waiting_by_reason == {"transient": 1} and waiting(state_db) == {"1000": "transient"}
    # Next run picks it up again; the attempt counter continues.
    (bid2,) = batches.plan(state_db, "r2", ENV, 10, 1)
    assert batches.owned_rows(state_db, bid2)[0].attempts == 4


def test_certificate_rejected_stops_everything_at_once_without_retry(state_db, clock, sleeper):
    (bid,) = plan(state_db, 5)
    client = ScriptedClient(clock, script={"1002": [cert_rejected()]})
    with pytest.raises(CertificateError):
        send(state_db, bid, client, clock, threads=1, sleeper=sleeper)
    assert [bn for bn, _ in client.sent] == ["1000", "1001", "1002"] and sleeper.slept == []
    assert outcomes(state_db)[-1] == ("1002", "certificate_error")
    assert sorted(waiting(state_db)) == ["1002", "1003", "1004"]


def test_systemic_unknown_system_id_stops_the_run_after_first_k(state_db, clock):
    (bid,) = plan(state_db, 25)
    client = ScriptedClient(clock, default=unknown_system)
    with pytest.raises(SystemicError, match="Configuration mismatch") as err:
        send(state_db, bid, client, clock, threads=1, systemic=SystemicRule(first_k=5))
    assert len(client.sent) == 5 and len(waiting(state_db)) == 20
    assert "SE13-137" in str(err.value)
    # Another batch of the same run stops before sending anything.
    outbox.stage(state_db, "r1", ENV, [FakeRegistration("9999")])
    (bid2,) = batches.plan(state_db, "r1", ENV, 1, 1)
    with pytest.raises(SystemicError):
        send(state_db, bid2, client, clock, systemic=SystemicRule(first_k=5))
    assert len(client.sent) == 5


def test_systemic_malformed_same_type_stops_the_run(state_db, clock):
    (bid,) = plan(state_db, 10)
    client = ScriptedClient(clock, default=lambda bn: malformed("kvakod"))
    with pytest.raises(SystemicError, match="kvakod.*Schema mismatch"):
        send(state_db, bid, client, clock, threads=1, systemic=SystemicRule(first_k=4))
    assert len(client.sent) == 4


def test_malformed_for_different_types_is_not_systemic(state_db, clock):
    (bid,) = plan(state_db, 6)
    types = iter(["kvakod", "hsaid", "kvakod", "datum", "kvakod", "kvakod"])
    client = ScriptedClient(clock, default=lambda bn: malformed(next(types)))
    res = send(state_db, bid, client, clock, threads=1, systemic=SystemicRule(first_k=4))
    assert res.by_state == {"malformed": 6}


def test_one_accepted_answer_among_the_first_k_means_not_systemic(state_db, clock):
    (bid,) = plan(state_db, 8)
    client = ScriptedClient(clock, default=unknown_system, script={"1003": [created]})
    res = send(state_db, bid, client, clock, threads=1, systemic=SystemicRule(first_k=5))
    assert res.by_state == {"rejected": 7, "created": 1}


def test_systemic_with_fewer_registrations_than_k_judges_all(state_db, clock):
    (bid,) = plan(state_db, 3)
    client = ScriptedClient(clock, default=unknown_system)
    with pytest.raises(SystemicError):
        send(state_db, bid, client, clock, systemic=SystemicRule(first_k=20))
    assert len(client.sent) == 3


def test_a_system_id_spor_refused_in_an_earlier_night_is_probed_not_a_systemic_stop(state_db, clock):
    """R17: the night after SPOR refused a SystemId its probe is refused again; that is the probe's
    answer, not a configuration mismatch of the whole run."""
    (bid,) = plan(state_db, 3, run_id="r0")
    with pytest.raises(SystemicError):  # night 1: every answer refused, nothing else known
        send(state_db, bid, ScriptedClient(clock, default=unknown_system), clock, systemic=SystemicRule(first_k=20))
    batches.finish_run(state_db, "r0")
    outbox.stage(state_db, "r1", ENV, [FakeRegistration("1000")], force=True)  # the probe, night 2
    (bid,) = batches.plan(state_db, "r1", ENV, 10, 1)
    res = send(state_db, bid, ScriptedClient(clock, default=unknown_system), clock, systemic=SystemicRule(first_k=20))
    assert res.stopped is None and res.by_state == {"rejected": 1}


def test_rerun_after_crash_sends_the_unanswered_registration_again(state_db, clock):
    """Crash between sent and recorded: the next attempt sends it; it ends accepted exactly once."""
    (bid,) = plan(state_db, 2)
    first = batches.owned_rows(state_db, bid)[0]
    attempts.record_attempt(state_db, first, run_id="r1", batch_id=bid)   # process died after this
    client = ScriptedClient(clock)
    res = send(state_db, bid, client, clock)
    assert res.by_state == {"created": 2}
    assert outcomes(state_db).count((first.behandlingsnummer, "created")) == 1
    assert (first.behandlingsnummer, None) in outcomes(state_db)
