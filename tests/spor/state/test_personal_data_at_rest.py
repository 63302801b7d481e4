"""Personal data at rest in the state database (docs/state-machine.md, "Personal data at rest"):
only two columns hold it, the hand-over payload (gone at the end of its run) and the outbox
payload (gone with SPOR's final answer, or when withdrawn); nothing else keeps a message."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from spor.lifecycle import State
from spor.state import outbox
from spor.state.tables import metadata
from spor.state.tables import outbox as outbox_t
from tests.spor.state_fixtures import FakeAnswer, created, malformed, regs, send_all, unknown_system

ENV = "stage"


def test_personal_data_at_rest_only_the_handover_and_outbox_payloads_hold_messages():
    """A new column that may hold a message or a row of the OPS must be added to the stated
    bounds (docs/state-machine.md) before this test accepts it."""
    holding = {(t.name, c.name) for t in metadata.sorted_tables for c in t.columns
               if c.name == "payload" or isinstance(c.type, sa.LargeBinary)}
    assert holding == {("spor_extracted", "payload"), ("spor_outbox", "payload")}


@pytest.mark.parametrize("answer", [
    created,
    lambda bn: FakeAnswer(State.UPDATED, "OK", f"Uppdaterade: {bn}"),
    unknown_system,
    lambda bn: malformed(),
], ids=["created", "updated", "rejected", "malformed"])
def test_personal_data_at_rest_an_outbox_payload_goes_with_spors_final_answer(state_db, answer):
    outbox.stage(state_db, "r1", ENV, regs("1001", "1002"))
    send_all(state_db, "r1", ENV, answer=answer)
    with state_db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(outbox_t)).scalar() == 0


def test_personal_data_at_rest_an_outbox_payload_stays_while_it_waits_for_an_answer(state_db):
    """Until SPOR's final answer the payload must stay: it is what the next attempt sends."""
    outbox.stage(state_db, "r1", ENV, regs("1001"))
    with state_db.read() as conn:
        (payload,) = conn.execute(sa.select(outbox_t.c.payload)).one()
    assert b"<behandlingsnummer>1001</behandlingsnummer>" in payload
