"""Audit of a treatment number (R11, D20; issue 6 point 3): when it was blocked (treatment and
whole-patient entries), whether it was ever sent and what SPOR answered, whether it was withdrawn,
and what was requested of UCR — without printing the identity number used for matching."""

from __future__ import annotations

import argparse
import io

from spor.cli.removal import audit_args, audit_run
from spor.lifecycle import State
from spor.removal import nightly, status
from spor.removal.audit import audit, render_audit
from spor.state import batches, outbox
from tests.spor.removal.removal_fixtures import OTHER, PATIENT, PROD, STAGE, accept, no_identity
from tests.spor.state_fixtures import FakeRegistration


def test_r11_audit_shows_block_sends_answers_and_the_removal_request(state_db, ops):
    ops.treatment("1001", PATIENT)
    ops.treatment("1002", PATIENT)
    accept(state_db, PROD, "1001")
    accept(state_db, STAGE, "1001")
    ops.block(4, PATIENT, orsak="patientens begäran", kanal="telefon", datum="2025-03-02")
    (prod, stage) = sorted(nightly.raise_removal_requests(state_db, ops.reader, run_id="n2"),
                           key=lambda r: r.environment)
    status.mark_sent(state_db, prod.id)

    a = audit(state_db, ops.reader, "1001")
    text = render_audit(a)

    assert a.in_ops and a.ever_sent and a.accepted_in == [PROD, STAGE]
    assert [e["id"] for e in a.block_entries] == [4] and a.block_entries[0]["scope"] == "patient"
    assert "entry 4 (whole patient) dated 2025-03-02: reason patientens begäran; learned via telefon" in text
    assert "sent to SPOR: yes; accepted in production, stage" in text
    assert "production SE2321000032-1001 attempt 1 (run night1): created" in text
    assert f"request {prod.id} (patient, production, sparrlista): sent" in text
    assert f"request {stage.id} (patient, stage, sparrlista): raised" in text
    assert "withdrawn from the outbox: no" in text
    no_identity(text)


def test_r11_audit_of_a_withdrawn_never_sent_treatment_and_of_an_unblocked_one(state_db, ops):
    """A registration staged, then blocked before it went: withdrawn, never sent, no request.
    The failing counterpart: an unblocked treatment shows no entry and no request."""
    ops.treatment("2001", PATIENT)
    ops.treatment("2002", OTHER)
    outbox.stage(state_db, "n1", PROD, [FakeRegistration("2001")])
    (bid,) = batches.plan(state_db, "n1", PROD, 10, 1)
    outbox.withdraw(state_db, "n1", batches.owned_rows(state_db, bid))
    ops.block(8, PATIENT, "2001", orsak="patientens begäran", kanal="muntligt vid besök")

    a = audit(state_db, ops.reader, "2001")
    text = render_audit(a)
    assert not a.ever_sent and a.requests == [] and a.held_back[0]["state"] == State.WITHDRAWN.value
    assert "entry 8 (this treatment)" in text and "sent to SPOR: never" in text
    assert "withdrawn from the outbox: yes" in text and "withdrawn [R11] blocked (opt-out)" in text
    assert "removal requests to UCR: none" in text

    other = render_audit(audit(state_db, ops.reader, "2002"))
    assert "no entry covers it" in other and "sent to SPOR: never" in other
    no_identity(text + other)


def test_audit_cli_prints_no_identity_and_works_without_the_ops(state_db, ops, tmp_path, monkeypatch):
    ops.treatment("3001", PATIENT)
    accept(state_db, PROD, "3001")
    ops.block(2, PATIENT)
    nightly.raise_removal_requests(state_db, ops.reader, run_id="n")
    ops.sql("DELETE FROM spor_behandling WHERE behandlingsnummer = '3001'")

    import spor.cli.removal as rc

    monkeypatch.setattr(rc, "state_db", lambda _t: _NoDispose(state_db))
    monkeypatch.setattr(rc, "_reader", lambda _t: ops.reader)
    monkeypatch.setattr(rc, "_refuse_missing", lambda _targets: False)   # the test's databases exist
    parser = argparse.ArgumentParser()
    audit_args(parser)
    out = io.StringIO()
    assert audit_run(parser.parse_args(["--behandlingsnummer", "3001", "9999"]), out) == 0
    text = out.getvalue()
    assert "Audit of behandlingsnummer 3001" in text and "Audit of behandlingsnummer 9999" in text
    assert "not in the OPS" in text and "(patient, production, sparrlista): raised" in text
    out = io.StringIO()
    assert audit_run(parser.parse_args(["--behandlingsnummer", "3001", "--no-ops"]), out) == 0
    assert "OPS: not read" in out.getvalue() and "not checked (no OPS connection)" in out.getvalue()
    no_identity(text + out.getvalue())


class _NoDispose:
    def __init__(self, db):
        self._db = db

    def __getattr__(self, name):
        return getattr(self._db, name)

    def dispose(self) -> None:
        pass
