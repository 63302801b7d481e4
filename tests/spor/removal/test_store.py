"""Storing removal requests: raised exactly once per key, a treatment found later joins the same
request as a late item (the e-mailed text unchanged), and what a run raised is listed for its
summary. State parts on SQLite and PostgreSQL (``state_db``)."""

from __future__ import annotations

from spor.removal import nightly, store
from tests.spor.removal.removal_fixtures import PATIENT, PROD, accept


def test_r11_raised_exactly_once_and_a_later_found_treatment_joins_the_same_request(state_db, ops):
    """R11: runs after the first raise nothing new; a treatment of the blocked patient accepted
    before the block but found later is added to the same whole-patient request (late, not in the
    e-mailed text), never a second request."""
    ops.treatment("3001", PATIENT)
    ops.treatment("3002", PATIENT)
    accept(state_db, PROD, "3001")
    ops.block(5, PATIENT)
    first = nightly.raise_removal_requests(state_db, ops.reader, run_id="n1")
    assert len(first) == 1
    assert nightly.raise_removal_requests(state_db, ops.reader, run_id="n2") == []

    accept(state_db, PROD, "3002", run_id="n0-late")  # e.g. recorded from an older ledger import
    result = nightly.raise_and_report(state_db, ops.reader, run_id="n3")
    assert result.raised == [] and result.extended == 1
    again = store.list_requests(state_db)
    assert len(again) == 1
    assert again[0].behandlingsnummer == ["3001", "3002"] and again[0].late == ["3002"]
    assert again[0].text == first[0].text
    assert nightly.raise_removal_requests(state_db, ops.reader, run_id="n4") == []
    assert store.raised_in_run(state_db, "n1") == [{"id": first[0].id, "scope": "patient",
                                                    "behandlingsnummer": ["3001", "3002"], "environment": PROD,
                                                    "status": "raised", "cause": "sparrlista"}]
    assert store.raised_in_run(state_db, "n3") == []
