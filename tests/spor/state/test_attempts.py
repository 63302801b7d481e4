"""The ledger of attempts: recorded before the request, answers recorded with data
minimisation, rows a batch no longer owns refused, recent latency."""

from __future__ import annotations

import sqlalchemy as sa

from spor.lifecycle import State
from spor.state import attempts, batches, outbox
from spor.state.batches import DEFAULT_LEASE
from spor.state.tables import ledger as ledger_t
from spor.state.tables import outbox as outbox_t
from tests.spor.state.test_batches import ELSEWHERE
from tests.spor.state_fixtures import FakeAnswer, FakeRegistration, created, regs, send_all

ENV = "stage"


def test_accepted_answer_deletes_payload_keeps_hash_outcome_and_answer(state_db):
    """Data minimisation: after OK the payload is gone; hash, outcome and SPOR's text stay."""
    reg = FakeRegistration("1001")
    outbox.stage(state_db, "r1", ENV, [reg])
    send_all(state_db, "r1", ENV)
    with state_db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(outbox_t)).scalar() == 0
        row = conn.execute(sa.select(ledger_t)).one()
    assert (row.outcome, row.result_code, row.result_text) == ("created", "OK", "Skapade: 1001")
    assert row.content_hash == reg.content_hash and row.attempt == 1 and row.answered_at is not None
    assert "payload" not in ledger_t.c


def test_record_attempt_refuses_a_row_its_batch_no_longer_owns(state_db, clock):
    outbox.stage(state_db, "r1", ENV, regs("1001"))
    (bid,) = batches.plan(state_db, "r1", ENV, 1, 1)
    batches.claim(state_db, bid, owner=ELSEWHERE)
    (reg,) = batches.owned_rows(state_db, bid)
    clock.advance(seconds=DEFAULT_LEASE.total_seconds() + 1)
    assert batches.plan(state_db, "r2", ENV, 1, 1)   # taken over
    assert attempts.record_attempt(state_db, reg, run_id="r1", batch_id=bid) is None


def test_answer_for_content_restaged_in_flight_keeps_the_new_content_waiting(state_db):
    outbox.stage(state_db, "r1", ENV, regs("1001"))
    (bid,) = batches.plan(state_db, "r1", ENV, 1, 1)
    (reg,) = batches.owned_rows(state_db, bid)
    lid = attempts.record_attempt(state_db, reg, run_id="r1", batch_id=bid)
    outbox.stage(state_db, "r2", ENV, regs("1001", content="v2"))   # changed while in flight
    attempts.record_answer(state_db, lid, reg, created("1001"))
    assert attempts.last_final_answer(state_db, ENV, reg.system_id, "1001") == ("created", reg.content_hash)
    assert outbox.size(state_db, ENV) == 1  # v2 still waits


def test_crash_between_sent_and_recorded_keeps_the_registration(state_db):
    """An attempt without a recorded answer leaves the row waiting, owned by its batch."""
    outbox.stage(state_db, "r1", ENV, regs("1001"))
    (bid,) = batches.plan(state_db, "r1", ENV, 1, 1)
    (reg,) = batches.owned_rows(state_db, bid)
    attempts.record_attempt(state_db, reg, run_id="r1", batch_id=bid)   # ... and the process dies here
    (again,) = batches.owned_rows(state_db, bid)
    assert again.behandlingsnummer == "1001" and again.attempts == 1
    with state_db.read() as conn:
        assert conn.execute(sa.select(ledger_t.c.outcome)).scalar() is None


def test_recent_latency_is_the_median_of_recent_answers(state_db):
    assert attempts.recent_latency(state_db, ENV) is None
    outbox.stage(state_db, "r1", ENV, regs("1", "2", "3"))
    lat = iter([0.04, 0.05, 0.30])
    send_all(state_db, "r1", ENV, answer=lambda bn: FakeAnswer(State.CREATED, "OK", f"Skapade: {bn}", elapsed_s=next(lat)))
    got = attempts.recent_latency(state_db, ENV)
    assert (got.median_s, got.samples) == (0.05, 3)


def test_ok_without_created_or_updated_in_its_text_takes_the_kind_from_the_ledger(state_db):
    """An OK whose text does not say created or updated ("OK", "Registreringen mottagen") is
    recorded as created the first time this environment accepts the number, updated afterwards."""
    def said_nothing(bn: str) -> FakeAnswer:
        return FakeAnswer(State.CREATED, "OK", "Registreringen mottagen", kind_from_text=False)

    outbox.stage(state_db, "r1", ENV, regs("1001"))
    send_all(state_db, "r1", ENV, answer=said_nothing)
    outbox.stage(state_db, "r2", ENV, regs("1001", content="v2"))
    outbox.stage(state_db, "r2", "production", regs("1001", content="v2"))
    recorded = {}
    for env in (ENV, "production"):
        for bid in batches.plan(state_db, "r2", env, 10, 1):
            for reg in batches.owned_rows(state_db, bid):
                lid = attempts.record_attempt(state_db, reg, run_id="r2", batch_id=bid)
                recorded[env] = attempts.record_answer(state_db, lid, reg, said_nothing(reg.behandlingsnummer))
    assert recorded == {ENV: State.UPDATED, "production": State.CREATED}  # another environment's ledger is not asked
    with state_db.read() as conn:
        outcomes = [r.outcome for r in conn.execute(sa.select(ledger_t).order_by(ledger_t.c.id))]
    assert outcomes == ["created", "updated", "created"]
    assert attempts.ok_texts(state_db, "r2") == {"Registreringen mottagen": 2}


def test_ok_that_says_its_kind_is_recorded_as_said(state_db):
    outbox.stage(state_db, "r1", ENV, regs("1001"))
    send_all(state_db, "r1", ENV, answer=lambda bn: FakeAnswer(State.UPDATED, "OK", f"Uppdaterade: {bn}."))
    with state_db.read() as conn:
        assert conn.execute(sa.select(ledger_t.c.outcome)).scalar_one() == "updated"
