"""What calls for a removal request: a treatment deleted in the OPS after SPOR accepted it ("sent
by mistake"), once, and not again when a block entry already covers it; many missing treatments
look like a broken OPS view and raise nothing; an unreadable block list raises nothing. State
parts on SQLite and PostgreSQL (``state_db``); the OPS is a real SQLite database."""

from __future__ import annotations

import pytest

from spor.errors import BlockListUnavailable
from spor.removal import matching, model, nightly, store
from spor.state import runlog
from tests.spor.removal.removal_fixtures import OTHER, PATIENT, PROD, accept


def test_r11_treatment_deleted_in_ops_after_acceptance_gets_request_sent_by_mistake(state_db, ops, clock):
    """R11 'sent by mistake': SPOR accepted it, the OPS no longer has it -> one treatment request
    with that reason; a treatment still in the OPS gets none."""
    ops.treatment("5001", PATIENT)
    ops.treatment("5002", OTHER)
    accept(state_db, PROD, "5001", "5002")
    assert nightly.raise_removal_requests(state_db, ops.reader, run_id="r1") == []
    ops.sql("DELETE FROM spor_behandling WHERE behandlingsnummer = '5001'")

    raised = nightly.raise_removal_requests(state_db, ops.reader, run_id="r2")

    assert [(r.cause, r.scope, r.behandlingsnummer) for r in raised] == [("deleted", "treatment", ["5001"])]
    assert raised[0].orsak == model.DELETED_REASON == "skickad av misstag / borttagen i OPS"
    assert "Anledning: skickad av misstag / borttagen i OPS" in raised[0].text
    assert f"Datum: {clock.now().date().isoformat()}" in raised[0].text
    assert nightly.raise_removal_requests(state_db, ops.reader, run_id="r3") == []


def test_r11_treatment_entry_for_a_deleted_treatment_is_one_request_not_two(state_db, ops):
    ops.treatment("5101", PATIENT)
    accept(state_db, PROD, "5101")
    ops.block(3, PATIENT, "5101")
    assert len(nightly.raise_removal_requests(state_db, ops.reader, run_id="r1")) == 1
    ops.sql("DELETE FROM spor_behandling WHERE behandlingsnummer = '5101'")
    assert nightly.raise_removal_requests(state_db, ops.reader, run_id="r2") == []


def test_r11_many_treatments_missing_from_ops_look_like_a_broken_view_and_raise_nothing(state_db, ops):
    """Fail safe: an empty or mis-pointed OPS view must not e-mail UCR hundreds of deletions."""
    numbers = [str(6000 + i) for i in range(matching.DELETED_MAX + 1)]
    accept(state_db, PROD, *numbers)  # none of them is in the (empty) OPS
    counts = nightly.nightly_step(state_db, ops.reader, run_id="r1")
    assert counts["raised"] == 0 and counts["deleted_suspect"] == len(numbers)
    assert store.list_requests(state_db) == []
    notes = [e.message for e in runlog.events(state_db, "r1", runlog.INFO)]
    assert any("look" in n and "broken OPS view" in n for n in notes)


def test_r11_unreadable_block_list_raises_nothing_and_says_why(state_db, ops):
    ops.treatment("7001", PATIENT)
    accept(state_db, PROD, "7001")
    ops.sql("ALTER TABLE spor_sparrlista RENAME TO spor_sparrlista_gone")
    with pytest.raises(BlockListUnavailable, match="spor_sparrlista"):
        nightly.nightly_step(state_db, ops.reader, run_id="r1")
    assert store.list_requests(state_db) == []
