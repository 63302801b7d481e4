"""Removal requests to UCR (R11, D20; issue 6 point 2): one per block entry and environment, raised
exactly once, with scope, accepted treatment numbers, reason and how the staff learned of the
wish; a treatment deleted in the OPS after SPOR accepted it; delivery by real SMTP; statuses; no
personal identity number anywhere. State parts on SQLite and PostgreSQL (``state_db``); the OPS is
a real SQLite database with the source contract."""

from __future__ import annotations

import argparse
import io
import logging
import socketserver
import sqlite3
import threading
from pathlib import Path

import pytest

from spor.removal import requests as removal

from spor.state import runlog

from spor.state import summary
from spor.extract.contract import apply_contract
from spor.errors import BlockListUnavailable
from spor.build.identity import PERSON_ID_PATTERN
from spor.state import attempts, batches, outbox
from spor.cli.removal import removal_args, removal_run
from spor.extract.source import SourceReader
from tests.spor.state_fixtures import FakeRegistration, clock, created, state_db, unknown_system  # noqa: F401 - fixtures

PATIENT = "197010632391"   # Skatteverket's published samordningsnummer example, not a person's
OTHER = "198803200016"     # the python-stdnum documentation example
PROD, STAGE = "production", "stage"
SID = "SE2321000032-1001"


# --- helpers ----------------------------------------------------------------------------------
class Ops:
    """A real SQLite OPS database with the source contract (treatments + block list)."""

    def __init__(self, path: Path):
        self.path = path
        apply_contract(f"sqlite:///{path}")
        self.reader = SourceReader.from_url(f"sqlite:///{path}")

    def sql(self, statement: str, *params) -> None:
        with sqlite3.connect(self.path) as conn:
            conn.execute(statement, params)

    def treatment(self, bnr: str, pnr: str, *, enhet: str = "ORT") -> None:
        self.sql("INSERT INTO spor_behandling (behandlingsnummer, enhet, personnummer, andrad_tid) "
                 "VALUES (?, ?, ?, '2025-03-01 10:00:00')", bnr, enhet, pnr)

    def block(self, id_: int, pnr: str, bnr: str | None = None, *, orsak: str = "patientens begäran",
              kanal: str = "brev från patienten", datum: str = "2025-03-02") -> None:
        self.sql("INSERT INTO spor_sparrlista (id, personnummer, behandlingsnummer, orsak, kanal, datum) "
                 "VALUES (?, ?, ?, ?, ?, ?)", id_, pnr, bnr, orsak, kanal, datum)


@pytest.fixture
def ops(tmp_path) -> Ops:
    return Ops(tmp_path / "ops.sqlite")


def accept(db, env: str, *bnrs: str, system_id: str = SID, answer=created, run_id: str = "night1") -> None:
    """Stage, send and record SPOR's answer through the real ledger (no client: answer recorded)."""
    outbox.stage(db, run_id, env, [FakeRegistration(b, system_id=system_id) for b in bnrs], force=True)
    for bid in batches.plan(db, run_id, env, 100, 100):
        batches.claim(db, bid)
        for reg in batches.owned_rows(db, bid):
            lid = attempts.record_attempt(db, reg, run_id=run_id, batch_id=bid)
            attempts.record_answer(db, lid, reg, answer(reg.behandlingsnummer))
        batches.finish(db, bid)


def no_identity(text: str) -> None:
    assert not PERSON_ID_PATTERN.search(text), f"identity number shape in: {PERSON_ID_PATTERN.search(text)}"
    assert PATIENT not in text and OTHER not in text


def cli(db, *argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    removal_args(parser)
    args = parser.parse_args(list(argv))
    out = io.StringIO()
    args.state = None
    import spor.cli.removal as rc

    original = rc._state
    rc._state = lambda _target: _Undisposed(db)  # the test's state DB (its schema) instead of a connection id
    try:
        return removal_run(args, out), out.getvalue()
    finally:
        rc._state = original


class _Undisposed:
    def __init__(self, db):
        self._db = db

    def __getattr__(self, name):
        return getattr(self._db, name)

    def dispose(self) -> None:  # the fixture disposes it
        pass


# --- R11 point by point -----------------------------------------------------------------------
def test_r11_whole_patient_request_states_scope_accepted_numbers_reason_and_channel(state_db, ops):
    """R11: scope (all of the patient's registrations, other units' too), the treatment numbers SPOR
    accepted from us (and only those), the reason, how the staff learned of the wish, the date,
    SystemId and environment — and no personal identity number."""
    for bnr in ("1001", "1002", "1003"):
        ops.treatment(bnr, PATIENT)
    ops.treatment("1004", OTHER)
    accept(state_db, PROD, "1001", "1002", "1004")
    accept(state_db, PROD, "1003", answer=unknown_system)  # rejected: SPOR does not hold it
    ops.block(7, PATIENT)

    raised = removal.raise_removal_requests(state_db, ops.reader, run_id="night2")

    assert len(raised) == 1
    r = raised[0]
    assert (r.scope, r.cause, r.environment, r.block_entry_id, r.status) == ("patient", "sparrlista", PROD, "7", "raised")
    assert r.behandlingsnummer == ["1001", "1002"]
    lines = r.text.splitlines()
    assert "Omfattning: HELA PATIENTEN. UCR ombeds ta bort ALLA patientens registreringar i SPOR, även sådana " \
           "som andra enheter har skickat." in lines
    numbers = next(line for line in lines if line.startswith("Behandlingsnummer som SPOR har tagit emot"))
    assert numbers.endswith(": 1001, 1002") and "inget personnummer" in numbers
    assert "Anledning: patientens begäran" in lines
    assert "Hur personalen fick kännedom om patientens önskan: brev från patienten" in lines
    assert "Datum: 2025-03-02" in lines
    assert f"SystemId: {SID}" in lines
    assert "Miljö: produktion (integration.ucr.uu.se)" in lines
    assert "1003" not in r.text and "1004" not in r.text
    no_identity(r.subject + r.text)


def test_r11_treatment_entry_request_names_one_treatment_and_a_never_accepted_one_none(state_db, ops):
    """R11: a treatment entry asks for that one treatment only; an entry covering nothing SPOR holds
    (never sent, or rejected) raises no request."""
    ops.treatment("2001", PATIENT)
    ops.treatment("2002", PATIENT)
    ops.treatment("2003", PATIENT)
    accept(state_db, PROD, "2001", "2002")
    ops.block(1, PATIENT, "2001", orsak="skickad av misstag", kanal="upptäckt vid granskning")
    ops.block(2, PATIENT, "2003")  # never sent

    raised = removal.raise_removal_requests(state_db, ops.reader, run_id="r")

    assert [(r.block_entry_id, r.scope, r.behandlingsnummer) for r in raised] == [("1", "treatment", ["2001"])]
    text = raised[0].text
    assert "Omfattning: EN BEHANDLING. Endast registreringen med behandlingsnumret nedan ska tas bort." in text
    assert "Behandlingsnummer som SPOR har tagit emot från oss: 2001\n" in text
    assert "Anledning: skickad av misstag" in text and "kännedom om patientens önskan: upptäckt vid granskning" in text
    assert "HELA PATIENTEN" not in text and "2002" not in text


def test_r11_raised_exactly_once_and_a_later_found_treatment_joins_the_same_request(state_db, ops):
    """R11: runs after the first raise nothing new; a treatment of the blocked patient accepted
    before the block but found later is added to the same whole-patient request (late, not in the
    e-mailed text), never a second request."""
    ops.treatment("3001", PATIENT)
    ops.treatment("3002", PATIENT)
    accept(state_db, PROD, "3001")
    ops.block(5, PATIENT)
    first = removal.raise_removal_requests(state_db, ops.reader, run_id="n1")
    assert len(first) == 1
    assert removal.raise_removal_requests(state_db, ops.reader, run_id="n2") == []

    accept(state_db, PROD, "3002", run_id="n0-late")  # e.g. recorded from an older ledger import
    result = removal.raise_and_report(state_db, ops.reader, run_id="n3")
    assert result.raised == [] and result.extended == 1
    again = removal.list_requests(state_db)
    assert len(again) == 1
    assert again[0].behandlingsnummer == ["3001", "3002"] and again[0].late == ["3002"]
    assert again[0].text == first[0].text
    assert removal.raise_removal_requests(state_db, ops.reader, run_id="n4") == []
    assert removal.raised_in_run(state_db, "n1") == [{"id": first[0].id, "scope": "patient",
                                                      "behandlingsnummer": ["3001", "3002"], "environment": PROD,
                                                      "status": "raised", "cause": "sparrlista"}]
    assert removal.raised_in_run(state_db, "n3") == []


def test_r11_one_request_per_environment_naming_it(state_db, ops):
    """Decision: stage and production are separate SPOR databases; each gets its own request."""
    ops.treatment("4001", PATIENT)
    accept(state_db, PROD, "4001")
    accept(state_db, STAGE, "4001")
    ops.block(9, PATIENT)
    raised = removal.raise_removal_requests(state_db, ops.reader, run_id="r")
    assert sorted(r.environment for r in raised) == [PROD, STAGE]
    stage = next(r for r in raised if r.environment == STAGE)
    assert "Miljö: stage (test-integration.ucr.uu.se)" in stage.text
    assert removal.raise_removal_requests(state_db, ops.reader, run_id="r2", environment=PROD) == []


def test_r11_treatment_deleted_in_ops_after_acceptance_gets_request_sent_by_mistake(state_db, ops, clock):
    """R11 'sent by mistake': SPOR accepted it, the OPS no longer has it -> one treatment request
    with that reason; a treatment still in the OPS gets none."""
    ops.treatment("5001", PATIENT)
    ops.treatment("5002", OTHER)
    accept(state_db, PROD, "5001", "5002")
    assert removal.raise_removal_requests(state_db, ops.reader, run_id="r1") == []
    ops.sql("DELETE FROM spor_behandling WHERE behandlingsnummer = '5001'")

    raised = removal.raise_removal_requests(state_db, ops.reader, run_id="r2")

    assert [(r.cause, r.scope, r.behandlingsnummer) for r in raised] == [("deleted", "treatment", ["5001"])]
    assert raised[0].orsak == removal.DELETED_REASON == "skickad av misstag / borttagen i OPS"
    assert "Anledning: skickad av misstag / borttagen i OPS" in raised[0].text
    assert f"Datum: {clock.now().date().isoformat()}" in raised[0].text
    assert removal.raise_removal_requests(state_db, ops.reader, run_id="r3") == []


def test_r11_treatment_entry_for_a_deleted_treatment_is_one_request_not_two(state_db, ops):
    ops.treatment("5101", PATIENT)
    accept(state_db, PROD, "5101")
    ops.block(3, PATIENT, "5101")
    assert len(removal.raise_removal_requests(state_db, ops.reader, run_id="r1")) == 1
    ops.sql("DELETE FROM spor_behandling WHERE behandlingsnummer = '5101'")
    assert removal.raise_removal_requests(state_db, ops.reader, run_id="r2") == []


def test_r11_many_treatments_missing_from_ops_look_like_a_broken_view_and_raise_nothing(state_db, ops):
    """Fail safe: an empty or mis-pointed OPS view must not e-mail UCR hundreds of deletions."""
    numbers = [str(6000 + i) for i in range(removal.DELETED_MAX + 1)]
    accept(state_db, PROD, *numbers)  # none of them is in the (empty) OPS
    counts = removal.nightly_step(state_db, ops.reader, run_id="r1")
    assert counts["raised"] == 0 and counts["deleted_suspect"] == len(numbers)
    assert removal.list_requests(state_db) == []
    notes = [e.message for e in runlog.events(state_db, "r1", runlog.INFO)]
    assert any("look" in n and "broken OPS view" in n for n in notes)


def test_r11_unreadable_block_list_raises_nothing_and_says_why(state_db, ops):
    ops.treatment("7001", PATIENT)
    accept(state_db, PROD, "7001")
    ops.sql("ALTER TABLE spor_sparrlista RENAME TO spor_sparrlista_gone")
    with pytest.raises(BlockListUnavailable, match="spor_sparrlista"):
        removal.nightly_step(state_db, ops.reader, run_id="r1")
    assert removal.list_requests(state_db) == []


# --- statuses, CLI, no identity ---------------------------------------------------------------
def test_status_raised_sent_confirmed_and_cli_shows_the_email_without_identity(state_db, ops, caplog):
    """R11/D20: the request is kept with its status; the team reads the e-mail text with
    `removal show`, marks it sent and confirmed; no identity number in logs or CLI output even when
    the staff typed one into the block list's free text."""
    ops.treatment("8001", PATIENT)
    ops.treatment("8002", PATIENT)
    accept(state_db, PROD, "8001", "8002")
    ops.block(11, PATIENT, orsak=f"patienten ({PATIENT}) vill lämna registret", kanal="telefon 19701063-2391")
    caplog.set_level(logging.DEBUG, logger="spor")
    counts = removal.nightly_step(state_db, ops.reader, run_id="n1")
    assert counts["raised"] == 1 and counts["pending"] == 1 and counts["sent"] == 0
    (r,) = removal.list_requests(state_db, status="raised")
    assert "Anledning: patienten (############) vill lämna registret" in r.text

    code, listed = cli(state_db, "list", "--status", "raised")
    assert code == 0 and f"{r.id:>5} raised" in listed and "8001, 8002" in listed
    code, shown = cli(state_db, "show", str(r.id))
    assert code == 0 and r.text in shown and "Ämne: SPOR: begäran om borttagning" in shown
    code, out = cli(state_db, "confirm", str(r.id), "--note", "UCR ärende 123")
    assert code == 0 and removal.get(state_db, r.id).status == "confirmed"
    code, _ = cli(state_db, "sent", str(r.id))
    assert code == 2, "a confirmed request cannot go back to sent"
    code, _ = cli(state_db, "show", "999")
    assert code == 2

    text = summary.render_text({"dag_id": "spor_nightly", "run_id": "n1", "mode": "manual", "by_state": {},
                                "waiting_by_reason": {}, "removal_requests": removal.raised_in_run(state_db, "n1"),
                                "notes": [f"{e.task}: {e.message}" for e in runlog.events(state_db, "n1")]})
    assert f"request {r.id}: patient — treatments 8001, 8002" in text
    for output in (listed, shown, out, text, caplog.text, r.text, r.subject, str(r.orsak), str(r.kanal)):
        no_identity(output)


def test_mark_sent_then_confirm_and_illegal_transitions(state_db, ops):
    ops.treatment("8101", PATIENT)
    accept(state_db, PROD, "8101")
    ops.block(12, PATIENT, "8101")
    (r,) = removal.raise_removal_requests(state_db, ops.reader, run_id="n1")
    sent = removal.mark_sent(state_db, r.id)
    assert sent.status == "sent" and sent.sent_to == "drift@ucr.uu.se" and sent.sent_at is not None
    with pytest.raises(ValueError):
        removal.mark_sent(state_db, r.id)
    done = removal.confirm(state_db, r.id, note="ticket 42")
    assert (done.status, done.note) == ("confirmed", "ticket 42") and done.confirmed_at is not None
    with pytest.raises(KeyError):
        removal.confirm(state_db, 12345)


# --- delivery through a real SMTP server ------------------------------------------------------
class _Smtp(socketserver.StreamRequestHandler):
    """A minimal SMTP server (RFC 5321 subset: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT)."""

    def handle(self) -> None:
        self.wfile.write(b"220 test ESMTP\r\n")
        rcpt: list[str] = []
        while True:
            line = self.rfile.readline()
            if not line:
                return
            verb = line.decode().strip().split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self.wfile.write(b"250-test\r\n250 8BITMIME\r\n")
            elif verb == "RCPT":
                rcpt.append(line.decode().split(":", 1)[1].strip().strip("<>"))
                self.wfile.write(b"250 ok\r\n")
            elif verb == "DATA":
                self.wfile.write(b"354 go\r\n")
                data = []
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data.append(chunk)
                self.server.messages.append((list(rcpt), b"".join(data)))  # type: ignore[attr-defined]
                self.wfile.write(b"250 queued\r\n")
            elif verb == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:  # MAIL, RSET, NOOP
                self.wfile.write(b"250 ok\r\n")


@pytest.fixture
def smtp_server(monkeypatch):
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp)
    server.daemon_threads = True
    server.messages = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    import json

    monkeypatch.setenv("AIRFLOW_CONN_SPOR_SMTP_TEST", json.dumps({
        "conn_type": "smtp", "host": "127.0.0.1", "port": server.server_address[1],
        "extra": {"disable_tls": True, "disable_ssl": True, "from_email": "spor@sjukhus.example",
                  "retry_limit": 0, "timeout": 5}}))
    yield server
    server.shutdown()
    server.server_close()


def test_r11_delivery_by_airflow_smtp_connection_marks_sent_and_a_failure_stays_raised(state_db, ops, smtp_server,
                                                                                      monkeypatch):
    """The request is e-mailed through the Airflow SMTP connection named in the Variable; it is
    marked sent only after the server took it; when the server is down it stays raised and goes
    the next night."""
    import email
    from email import policy

    ops.treatment("9001", PATIENT)
    ops.treatment("9002", PATIENT)
    accept(state_db, PROD, "9001", "9002")
    ops.block(21, PATIENT)
    monkeypatch.setenv("AIRFLOW_VAR_SPOR_REMOVAL_NOTIFIER",
                       '{"smtp_conn_id": "spor_smtp_test", "to": ["drift@ucr.uu.se"], "cc": ["spor-team@sjukhus.example"]}')
    notifier = removal.notifier_from_airflow()
    assert notifier is not None

    # the server is down first: nothing is marked sent
    monkeypatch.setenv("AIRFLOW_CONN_SPOR_SMTP_DOWN", '{"conn_type": "smtp", "host": "127.0.0.1", "port": 9, '
                       '"extra": {"disable_tls": true, "disable_ssl": true, "from_email": "x@y.example", "retry_limit": 0, "timeout": 2}}')
    down = removal.notifier_from_config({"smtp_conn_id": "spor_smtp_down"})
    counts = removal.nightly_step(state_db, ops.reader, run_id="n1", notifier=down)
    assert counts["raised"] == 1 and counts["failed"] == 1 and counts["sent"] == 0
    (r,) = removal.list_requests(state_db, status="raised")

    counts = removal.nightly_step(state_db, ops.reader, run_id="n2", notifier=notifier)
    assert counts["raised"] == 0 and counts["sent"] == 1
    assert removal.get(state_db, r.id).status == "sent"
    assert "drift@ucr.uu.se" in removal.get(state_db, r.id).sent_to
    (rcpt, data), = smtp_server.messages
    assert rcpt == ["drift@ucr.uu.se", "spor-team@sjukhus.example"]
    msg = email.message_from_bytes(data, policy=policy.default)
    assert f"begäran {r.id}" in str(msg["Subject"])
    body = next(p for p in msg.walk() if p.get_content_type() == "text/html").get_content()
    assert "9001, 9002" in body and "ALLA patientens registreringar" in body
    no_identity(data.decode("utf-8", "replace") + body)
    assert removal.nightly_step(state_db, ops.reader, run_id="n3", notifier=notifier)["sent"] == 0
    assert len(smtp_server.messages) == 1, "a sent request is not e-mailed again"


def test_notifier_configuration_is_checked():
    from spor.errors import ConfigurationError

    assert removal.notifier_from_config(None) is None and removal.notifier_from_config("") is None
    with pytest.raises(ConfigurationError):
        removal.notifier_from_config({"to": ["drift@ucr.uu.se"]})
    with pytest.raises(ConfigurationError):
        removal.notifier_from_config({"smtp_conn_id": "x", "recipient": "a@b"})
    n = removal.notifier_from_config('{"smtp_conn_id": "x"}')
    assert n.to == ("drift@ucr.uu.se",)
