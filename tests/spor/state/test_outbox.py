"""The outbox on SQLite and PostgreSQL: staging against the last final answer per environment +
SystemId, restaging, withdrawal and waiting reasons."""

from __future__ import annotations

import sqlalchemy as sa

from spor.lifecycle import WaitReason
from spor.state import attempts, batches, outbox, run_summary
from spor.state.tables import outbox as outbox_t
from tests.spor.state_fixtures import FakeRegistration, malformed, regs, send_all, unknown_system

ENV, PROD = "stage", "production"


def test_stage_new_registrations_wait_with_reason_new(state_db):
    res = outbox.stage(state_db, "r1", ENV, regs("1001", "1002"))
    assert (res.staged, res.unchanged) == (2, 0)
    with state_db.read() as conn:
        rows = conn.execute(sa.select(outbox_t.c.behandlingsnummer, outbox_t.c.state, outbox_t.c.wait_reason)
                            .order_by(outbox_t.c.behandlingsnummer)).all()
    assert [tuple(r) for r in rows] == [("1001", "waiting", "new"), ("1002", "waiting", "new")]


def test_unchanged_is_decided_against_last_final_answer_per_environment(state_db):
    """Approved in stage is still new to production; resending the same content to stage is unchanged."""
    outbox.stage(state_db, "r1", ENV, regs("1001"))
    send_all(state_db, "r1", ENV)
    assert attempts.last_final_answer(state_db, ENV, "SE2321000032-1001", "1001")[0] == "created"
    again = outbox.stage(state_db, "r2", ENV, regs("1001"))
    assert (again.staged, again.unchanged) == (0, 1)
    prod = outbox.stage(state_db, "r2", PROD, regs("1001"))
    assert (prod.staged, prod.unchanged) == (1, 0)
    changed = outbox.stage(state_db, "r3", ENV, regs("1001", content="v2"))
    assert (changed.staged, changed.unchanged) == (1, 0)


def test_unchanged_key_includes_system_id(state_db):
    outbox.stage(state_db, "r1", ENV, regs("1001"))
    send_all(state_db, "r1", ENV)
    other_unit = FakeRegistration("1001", "v1", system_id="SE2321000032-2002")
    assert outbox.stage(state_db, "r2", ENV, [other_unit]).staged == 1


def test_rejected_registration_not_resent_until_content_changes(state_db):
    outbox.stage(state_db, "r1", ENV, regs("1001"))
    send_all(state_db, "r1", ENV, answer=unknown_system)
    assert outbox.stage(state_db, "r2", ENV, regs("1001")).unchanged == 1
    assert outbox.size(state_db, ENV) == 0
    assert outbox.stage(state_db, "r3", ENV, regs("1001", content="fixed")).staged == 1


def test_malformed_registration_not_resent_until_content_changes_but_force_sends(state_db):
    outbox.stage(state_db, "r1", ENV, regs("1001"))
    send_all(state_db, "r1", ENV, answer=lambda bn: malformed())
    assert outbox.stage(state_db, "r2", ENV, regs("1001")).unchanged == 1
    assert outbox.stage(state_db, "r3", ENV, regs("1001"), force=True).staged == 1


def test_restaged_content_replaces_payload_keeps_place_and_reverting_removes_it(state_db, clock):
    outbox.stage(state_db, "r1", ENV, regs("1001"))
    send_all(state_db, "r1", ENV)
    outbox.stage(state_db, "r2", ENV, regs("1001", content="v2"))
    with state_db.read() as conn:
        since = conn.execute(sa.select(outbox_t.c.waiting_since)).scalar()
    clock.advance(hours=1)
    res = outbox.stage(state_db, "r3", ENV, regs("1001", content="v3"))
    assert (res.staged, res.already_waiting) == (1, 0)
    with state_db.read() as conn:
        row = conn.execute(sa.select(outbox_t)).one()
    assert row.waiting_since == since and row.content_hash == FakeRegistration("1001", "v3").content_hash
    assert outbox.stage(state_db, "r4", ENV, regs("1001", content="v3")).already_waiting == 1
    back = outbox.stage(state_db, "r5", ENV, regs("1001", content="v1"))  # what SPOR already holds
    assert back.unchanged == 1 and outbox.size(state_db, ENV) == 0


def test_withdraw_removes_from_outbox_and_records_withdrawn(state_db):
    outbox.stage(state_db, "r1", ENV, regs("1001", "1002"))
    (bid,) = batches.plan(state_db, "r1", ENV, 10, 1)
    blocked = [r for r in batches.owned_rows(state_db, bid) if r.behandlingsnummer == "1002"]
    assert outbox.withdraw(state_db, "r1", blocked) == 1
    assert [r.behandlingsnummer for r in batches.owned_rows(state_db, bid)] == ["1001"]
    counts = run_summary.counts(state_db, "r1")
    assert counts.by_state["withdrawn"] == 1
    assert [(a.behandlingsnummer, a.state) for a in counts.attention] == [("1002", "withdrawn")]


def test_mark_waiting_sets_reason_and_releases_rows(state_db):
    outbox.stage(state_db, "r1", ENV, regs("1001"))
    (bid,) = batches.plan(state_db, "r1", ENV, 10, 1)
    (reg,) = batches.owned_rows(state_db, bid)
    outbox.mark_waiting(state_db, [reg.outbox_id], WaitReason.DEADLINE)
    assert batches.owned_rows(state_db, bid) == []
    assert run_summary.counts(state_db, "r1").waiting_by_reason["deadline"] == 1
