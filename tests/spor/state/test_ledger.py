"""Outbox and ledger (issue 3 point 4) on SQLite and PostgreSQL: staging against the last final
answer per environment + SystemId, watermark in the same transaction, batches owning their rows,
send order, answers, data minimisation, withdrawal, summaries."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from spor.state.ledger import DEFAULT_LEASE, WARNED, HeldBackItem, Ledger
from spor.states import State, WaitReason
from spor.state.tables import ledger as ledger_t, outbox
from tests.spor.state_fixtures import (  # noqa: F401 - fixtures
    FakeAnswer, FakeRegistration, clock, created, malformed, state_db, unknown_system,
)

ENV, PROD = "stage", "production"


def regs(*bns: str, content: str = "v1") -> list[FakeRegistration]:
    return [FakeRegistration(bn, content) for bn in bns]


def send_all(led: Ledger, run_id: str, env: str, answer=created) -> None:
    """Send everything waiting (no client: record the answer directly)."""
    for bid in led.plan_batches(run_id, env, 100, 100):
        led.claim(bid)
        for reg in led.iter_batch(bid):
            lid = led.record_attempt(reg, run_id=run_id, batch_id=bid)
            led.record_answer(lid, reg, answer(reg.behandlingsnummer))
        led.finish_batch(bid)


def test_stage_new_registrations_wait_with_reason_new(state_db):
    led = Ledger(state_db)
    res = led.stage("r1", ENV, regs("1001", "1002"))
    assert (res.staged, res.unchanged) == (2, 0)
    with state_db.read() as conn:
        rows = conn.execute(sa.select(outbox.c.behandlingsnummer, outbox.c.state, outbox.c.wait_reason)
                            .order_by(outbox.c.behandlingsnummer)).all()
    assert [tuple(r) for r in rows] == [("1001", "waiting", "new"), ("1002", "waiting", "new")]


def test_unchanged_is_decided_against_last_final_answer_per_environment(state_db):
    """Approved in stage is still new to production; resending the same content to stage is unchanged."""
    led = Ledger(state_db)
    led.stage("r1", ENV, regs("1001"))
    send_all(led, "r1", ENV)
    assert led.last_final(ENV, "SE2321000032-1001", "1001")[0] == "created"
    again = led.stage("r2", ENV, regs("1001"))
    assert (again.staged, again.unchanged) == (0, 1)
    prod = led.stage("r2", PROD, regs("1001"))
    assert (prod.staged, prod.unchanged) == (1, 0)
    changed = led.stage("r3", ENV, regs("1001", content="v2"))
    assert (changed.staged, changed.unchanged) == (1, 0)


def test_unchanged_key_includes_system_id(state_db):
    led = Ledger(state_db)
    led.stage("r1", ENV, regs("1001"))
    send_all(led, "r1", ENV)
    other_unit = FakeRegistration("1001", "v1", system_id="SE2321000032-2002")
    assert led.stage("r2", ENV, [other_unit]).staged == 1


def test_rejected_registration_not_resent_until_content_changes(state_db):
    led = Ledger(state_db)
    led.stage("r1", ENV, regs("1001"))
    send_all(led, "r1", ENV, answer=unknown_system)
    assert led.stage("r2", ENV, regs("1001")).unchanged == 1
    assert led.outbox_size(ENV) == 0
    assert led.stage("r3", ENV, regs("1001", content="fixed")).staged == 1


def test_malformed_registration_not_resent_until_content_changes_but_force_sends(state_db):
    led = Ledger(state_db)
    led.stage("r1", ENV, regs("1001"))
    send_all(led, "r1", ENV, answer=lambda bn: malformed())
    assert led.stage("r2", ENV, regs("1001")).unchanged == 1
    assert led.stage("r3", ENV, regs("1001"), force=True).staged == 1


def test_watermark_advances_in_the_same_transaction_as_staging(state_db):
    led = Ledger(state_db)
    led.stage("r1", ENV, regs("1001"), watermark=("nightly", "2025-03-03T01:00:00+01:00"))
    assert led.get_watermark("nightly") == "2025-03-03T01:00:00+01:00"

    class Broken(FakeRegistration):
        @property
        def xml_bytes(self):  # fails inside the staging transaction
            raise RuntimeError("build broke")

    with pytest.raises(RuntimeError):
        led.stage("r2", ENV, [FakeRegistration("1002"), Broken("1003", system_id="X")],
                  watermark=("nightly", "2025-03-04T01:00:00+01:00"))
    assert led.get_watermark("nightly") == "2025-03-03T01:00:00+01:00"
    assert led.outbox_size(ENV) == 1  # 1002 rolled back with the watermark


def test_watermark_never_moves_backwards(state_db):
    led = Ledger(state_db)
    led.set_watermark("nightly", "2025-03-04T01:00:00+01:00")
    led.stage("r1", ENV, [], watermark=("nightly", "2025-03-03T23:30:00+00:00"))  # 00:30 local: older
    assert led.get_watermark("nightly") == "2025-03-04T01:00:00+01:00"
    led.set_watermark("nightly", "2025-03-04T00:30:00+00:00")  # 01:30 local: newer
    assert led.get_watermark("nightly") == "2025-03-04T00:30:00+00:00"


def test_restaged_content_replaces_payload_keeps_place_and_reverting_removes_it(state_db, clock):
    led = Ledger(state_db)
    led.stage("r1", ENV, regs("1001"))
    send_all(led, "r1", ENV)
    led.stage("r2", ENV, regs("1001", content="v2"))
    with state_db.read() as conn:
        since = conn.execute(sa.select(outbox.c.waiting_since)).scalar()
    clock.advance(hours=1)
    res = led.stage("r3", ENV, regs("1001", content="v3"))
    assert (res.staged, res.already_waiting) == (1, 0)
    with state_db.read() as conn:
        row = conn.execute(sa.select(outbox)).one()
    assert row.waiting_since == since and row.content_hash == FakeRegistration("1001", "v3").content_hash
    assert led.stage("r4", ENV, regs("1001", content="v3")).already_waiting == 1
    back = led.stage("r5", ENV, regs("1001", content="v1"))  # what SPOR already holds
    assert back.unchanged == 1 and led.outbox_size(ENV) == 0


def test_plan_batches_gives_each_row_to_exactly_one_batch(state_db):
    led = Ledger(state_db)
    led.stage("r1", ENV, regs(*[str(1000 + i) for i in range(25)]))
    ids = led.plan_batches("r1", ENV, batch_size=10, max_batches=5)
    assert len(ids) == 3
    seen = [reg.behandlingsnummer for b in ids for reg in led.iter_batch(b)]
    assert sorted(seen) == sorted(set(seen)) and len(seen) == 25
    # A concurrent run (e.g. a resend) finds nothing free to take.
    assert led.plan_batches("other", ENV, 10, 5) == []


def test_send_order_is_oldest_waiting_first_then_behandlingsnummer(state_db, clock):
    """When not everything fits (max_batches), what waited longest goes first; ties by number."""
    led = Ledger(state_db)
    led.stage("r1", ENV, regs("3003", "3001"))           # waiting since 01:00
    clock.advance(days=1)
    led.stage("r2", ENV, regs("1002", "1001", "2001"))   # a day younger
    ids = led.plan_batches("r2", ENV, batch_size=2, max_batches=2)
    order = [reg.behandlingsnummer for b in ids for reg in led.iter_batch(b)]
    assert order == ["3001", "3003", "1001", "1002"]
    assert led.outbox_size(ENV) == 5  # 2001 still waits, unassigned


def test_priority_goes_before_age(state_db, clock):
    led = Ledger(state_db)
    led.stage("r1", ENV, regs("1001"))
    clock.advance(hours=1)
    led.stage("r2", ENV, regs("9009"), priority=10)
    (bid,) = led.plan_batches("r2", ENV, 1, 1)
    assert [r.behandlingsnummer for r in led.iter_batch(bid)] == ["9009"]


def test_rows_of_dead_batches_are_replanned_after_the_lease(state_db, clock):
    led = Ledger(state_db)
    led.stage("r1", ENV, regs("1001", "1002"))
    (bid,) = led.plan_batches("r1", ENV, 10, 1)
    led.claim(bid)
    assert led.plan_batches("r2", ENV, 10, 1) == []          # owned by a live batch
    clock.advance(seconds=DEFAULT_LEASE.total_seconds() + 1)  # its worker died
    (new,) = led.plan_batches("r2", ENV, 10, 1)
    assert sorted(r.behandlingsnummer for r in led.iter_batch(new)) == ["1001", "1002"]
    assert led.iter_batch(bid) == []


def test_replanning_the_same_run_takes_back_unclaimed_batches(state_db):
    led = Ledger(state_db)
    led.stage("r1", ENV, regs("1001", "1002", "1003"))
    first = led.plan_batches("r1", ENV, 2, 5)
    second = led.plan_batches("r1", ENV, 2, 5)  # the plan task was retried
    assert set(first).isdisjoint(second)
    assert sum(len(led.iter_batch(b)) for b in second) == 3


def test_accepted_answer_deletes_payload_keeps_hash_outcome_and_answer(state_db):
    """Data minimisation: after OK the payload is gone; hash, outcome and SPOR's text stay."""
    led = Ledger(state_db)
    reg = FakeRegistration("1001")
    led.stage("r1", ENV, [reg])
    send_all(led, "r1", ENV)
    with state_db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar() == 0
        row = conn.execute(sa.select(ledger_t)).one()
    assert (row.outcome, row.result_code, row.result_text) == ("created", "OK", "Skapade: 1001")
    assert row.content_hash == reg.content_hash and row.attempt == 1 and row.answered_at is not None
    assert "payload" not in ledger_t.c


def test_record_attempt_refuses_a_row_its_batch_no_longer_owns(state_db, clock):
    led = Ledger(state_db)
    led.stage("r1", ENV, regs("1001"))
    (bid,) = led.plan_batches("r1", ENV, 1, 1)
    (reg,) = led.iter_batch(bid)
    clock.advance(seconds=DEFAULT_LEASE.total_seconds() + 1)
    led.plan_batches("r2", ENV, 1, 1)   # taken over
    assert led.record_attempt(reg, run_id="r1", batch_id=bid) is None


def test_answer_for_content_restaged_in_flight_keeps_the_new_content_waiting(state_db):
    led = Ledger(state_db)
    led.stage("r1", ENV, regs("1001"))
    (bid,) = led.plan_batches("r1", ENV, 1, 1)
    (reg,) = led.iter_batch(bid)
    lid = led.record_attempt(reg, run_id="r1", batch_id=bid)
    led.stage("r2", ENV, regs("1001", content="v2"))   # changed while in flight
    led.record_answer(lid, reg, created("1001"))
    assert led.last_final(ENV, reg.system_id, "1001") == ("created", reg.content_hash)
    assert led.outbox_size(ENV) == 1  # v2 still waits


def test_crash_between_sent_and_recorded_keeps_the_registration(state_db):
    """Issue 3 p4: an attempt without a recorded answer leaves the row waiting, owned by its batch."""
    led = Ledger(state_db)
    led.stage("r1", ENV, regs("1001"))
    (bid,) = led.plan_batches("r1", ENV, 1, 1)
    (reg,) = led.iter_batch(bid)
    led.record_attempt(reg, run_id="r1", batch_id=bid)   # ... and the process dies here
    (again,) = led.iter_batch(bid)
    assert again.behandlingsnummer == "1001" and again.attempts == 1
    with state_db.read() as conn:
        assert conn.execute(sa.select(ledger_t.c.outcome)).scalar() is None


def test_withdraw_removes_from_outbox_and_records_withdrawn(state_db):
    led = Ledger(state_db)
    led.stage("r1", ENV, regs("1001", "1002"))
    (bid,) = led.plan_batches("r1", ENV, 10, 1)
    blocked = [r for r in led.iter_batch(bid) if r.behandlingsnummer == "1002"]
    assert led.withdraw("r1", blocked) == 1
    assert [r.behandlingsnummer for r in led.iter_batch(bid)] == ["1001"]
    counts = led.summary_counts("r1")
    assert counts.by_state["withdrawn"] == 1
    assert [(a.behandlingsnummer, a.state) for a in counts.attention] == [("1002", "withdrawn")]


def test_mark_waiting_sets_reason_and_releases_rows(state_db):
    led = Ledger(state_db)
    led.stage("r1", ENV, regs("1001"))
    (bid,) = led.plan_batches("r1", ENV, 10, 1)
    (reg,) = led.iter_batch(bid)
    led.mark_waiting([reg.outbox_id], WaitReason.DEADLINE)
    assert led.iter_batch(bid) == []
    assert led.summary_counts("r1").waiting_by_reason["deadline"] == 1


def test_held_back_items_need_a_held_back_state(state_db):
    led = Ledger(state_db)
    led.record_held_back("r1", [HeldBackItem("1001", State.QUARANTINED, rule="D5", reason="code not in list"),
                                HeldBackItem("1002", State.NOT_BUILDABLE, rule="R9", variable="V415"),
                                HeldBackItem("1003", WARNED, rule="D21")])
    with pytest.raises(ValueError):
        led.record_held_back("r1", [HeldBackItem("1004", State.CREATED)])
    c = led.summary_counts("r1")
    assert (c.by_state["quarantined"], c.by_state["not_buildable"], c.by_state[WARNED]) == (1, 1, 1)


def test_summary_counts_every_state_once_per_registration(state_db):
    led = Ledger(state_db)
    led.stage("r0", ENV, regs("1005"))
    send_all(led, "r0", ENV)
    led.stage("r1", ENV, regs("1001", "1002", "1003", "1005"))
    answers = {"1001": created, "1002": unknown_system, "1003": lambda bn: malformed()}
    for bid in led.plan_batches("r1", ENV, 10, 1):
        for reg in led.iter_batch(bid):
            lid = led.record_attempt(reg, run_id="r1", batch_id=bid)
            led.record_answer(lid, reg, answers[reg.behandlingsnummer](reg.behandlingsnummer))
    c = led.summary_counts("r1")
    assert {k: v for k, v in c.by_state.items() if v} == {"created": 1, "rejected": 1, "malformed": 1, "unchanged": 1}
    assert sorted((a.behandlingsnummer, a.state) for a in c.attention) == [("1002", "rejected"), ("1003", "malformed")]
    led.save_summary("r1", c.as_dict())
    assert led.load_summary("r1")["by_state"]["created"] == 1


def test_recent_latency_is_the_median_of_recent_answers(state_db):
    led = Ledger(state_db)
    assert led.recent_latency(ENV) is None
    led.stage("r1", ENV, regs("1", "2", "3"))
    lat = iter([0.04, 0.05, 0.30])
    send_all(led, "r1", ENV, answer=lambda bn: FakeAnswer(State.CREATED, "OK", f"Skapade: {bn}", elapsed_s=next(lat)))
    got = led.recent_latency(ENV)
    assert (got.median_s, got.samples) == (0.05, 3)
