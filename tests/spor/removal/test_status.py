"""The status of a removal request (raised → sent → confirmed) by function and by CLI: the team
reads the e-mail text with ``removal show``, marks it sent and confirmed; illegal moves fail; no
identity number in logs, CLI output or the run summary. State parts on SQLite and PostgreSQL."""

from __future__ import annotations

import argparse
import io
import logging

import pytest

from spor.cli.removal import removal_args, removal_run
from spor.removal import nightly, status, store
from spor.state import runlog, summary
from tests.spor.removal.removal_fixtures import PATIENT, PROD, accept, no_identity


def cli(db, *argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    removal_args(parser)
    args = parser.parse_args(list(argv))
    out = io.StringIO()
    args.state = None
    import spor.cli.removal as rc

    original = rc.state_db, rc._refuse_missing
    rc.state_db = lambda _target: _Undisposed(db)  # the test's state DB (its schema) instead of a connection id
    rc._refuse_missing = lambda _targets: False
    try:
        return removal_run(args, out), out.getvalue()
    finally:
        rc.state_db, rc._refuse_missing = original


class _Undisposed:
    def __init__(self, db):
        self._db = db

    def __getattr__(self, name):
        return getattr(self._db, name)

    def dispose(self) -> None:  # the fixture disposes it
        pass


def test_status_raised_sent_confirmed_and_cli_shows_the_email_without_identity(state_db, ops, caplog):
    """R11/D20: the request is kept with its status; the team reads the e-mail text with
    `removal show`, marks it sent and confirmed; no identity number in logs or CLI output even when
    the staff typed one into the block list's free text."""
    ops.treatment("8001", PATIENT)
    ops.treatment("8002", PATIENT)
    accept(state_db, PROD, "8001", "8002")
    ops.block(11, PATIENT, orsak=f"patienten ({PATIENT}) vill lämna registret", kanal="telefon 19701063-2391")
    caplog.set_level(logging.DEBUG, logger="spor")
    counts = nightly.nightly_step(state_db, ops.reader, run_id="n1")
    assert counts["raised"] == 1 and counts["pending"] == 1 and counts["sent"] == 0
    (r,) = store.list_requests(state_db, status="raised")
    assert "Anledning: patienten (############) vill lämna registret" in r.text

    code, listed = cli(state_db, "list", "--status", "raised")
    assert code == 0 and f"{r.id:>5} raised" in listed and "8001, 8002" in listed
    code, shown = cli(state_db, "show", str(r.id))
    assert code == 0 and r.text in shown and "Ämne: SPOR: begäran om borttagning" in shown
    code, out = cli(state_db, "confirm", str(r.id), "--note", "UCR ärende 123")
    assert code == 0 and store.get(state_db, r.id).status == "confirmed"
    code, _ = cli(state_db, "sent", str(r.id))
    assert code == 2, "a confirmed request cannot go back to sent"
    code, _ = cli(state_db, "show", "999")
    assert code == 2

    text = summary.render_text({"dag_id": "spor_nightly", "run_id": "n1", "mode": "manual", "by_state": {},
                                "waiting_by_reason": {}, "removal_requests": store.raised_in_run(state_db, "n1"),
                                "notes": [f"{e.task}: {e.message}" for e in runlog.events(state_db, "n1")]})
    assert f"request {r.id}: patient — treatments 8001, 8002" in text
    for output in (listed, shown, out, text, caplog.text, r.text, r.subject, str(r.orsak), str(r.kanal)):
        no_identity(output)


def test_mark_sent_then_confirm_and_illegal_transitions(state_db, ops):
    ops.treatment("8101", PATIENT)
    accept(state_db, PROD, "8101")
    ops.block(12, PATIENT, "8101")
    (r,) = nightly.raise_removal_requests(state_db, ops.reader, run_id="n1")
    sent = status.mark_sent(state_db, r.id)
    assert sent.status == "sent" and sent.sent_to == "drift@ucr.uu.se" and sent.sent_at is not None
    with pytest.raises(ValueError):
        status.mark_sent(state_db, r.id)
    done = status.confirm(state_db, r.id, note="ticket 42")
    assert (done.status, done.note) == ("confirmed", "ticket 42") and done.confirmed_at is not None
    with pytest.raises(KeyError):
        status.confirm(state_db, 12345)
