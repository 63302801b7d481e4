"""Opt-out end to end (R11, D20; issue 6 acceptance): spor_nightly with dag.test() against the
stand-in over real TLS, on a synthetic OPS database. The test reads the stand-in's folder of
received requests and greps every XML for blocked treatment numbers and blocked patients'
personal identity numbers (read from the OPS database by the test, never printed)."""

from __future__ import annotations

import re
import sqlite3

import pytest
import sqlalchemy as sa

from tests.dags.nightly_support import environment, load_dag, night_settings, start_night

FIRST_NIGHT = "2025-12-01T01:00:00+01:00"
SECOND_NIGHT = "2025-12-02T01:00:00+01:00"
THIRD_NIGHT = "2025-12-03T01:00:00+01:00"
#: Prepared (extracted, checked, staged, planned) at 04:59:59 with the clock standing still; the
#: first send at 05:00:00 is too late, so everything staged stays waiting (nightly_support.ClockScript).
PREPARED_AT, SENDING_AT = "2025-12-01T04:59:59+01:00", "2025-12-01T05:00:00+01:00"


@pytest.fixture
def night(tmp_path, standin_pki, airflow_db):
    night = start_night(tmp_path, standin_pki, n=240, seed=11)
    yield night
    night.standin.stop()


# --- helpers ----------------------------------------------------------------------------------
def _run(night, dag, clock_start: str):
    assert "raise_removal_requests" in dag.task_ids, "spor_nightly raises removal requests (R11)"
    with environment(night_settings(night, clock_start)):
        return dag.test(logical_date=None)


def _state(night):
    from spor.state import database as statedb

    return statedb.connect(f"sqlite:///{night.env.state_db}")


def _ops(night, sql: str, *params) -> list[tuple]:
    with sqlite3.connect(night.env.ops_db) as conn:
        return conn.execute(sql, params).fetchall()


def _received_xml(night) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(night.env.received.glob("*.xml")))


def _received_numbers(night) -> list[str]:
    from standin.recorder import read_index

    return [e["behandlingsnummer"] for e in read_index(night.env.received)]


def _digits(pnr: str) -> str:
    return re.sub(r"\D", "", pnr)


def _assert_never_received(night, numbers: set[str], pnrs: set[str]) -> None:
    xml = _received_xml(night)
    leaked = [b for b in numbers if re.search(rf">\s*{re.escape(b)}\s*<", xml)]
    assert not leaked, f"blocked treatments reached the stand-in: {sorted(leaked)} (R11)"
    assert not set(_received_numbers(night)) & numbers
    assert not [p for p in pnrs if p in xml], "a blocked patient's identity number reached the stand-in (R11)"


def _accepted(night) -> dict[str, str]:
    """behandlingsnummer -> personnummer (12 digits) of what SPOR accepted, from ledger + OPS."""
    from spor.state.tables import last_final

    db = _state(night)
    try:
        with db.read() as conn:
            numbers = {r[0] for r in conn.execute(sa.select(last_final.c.behandlingsnummer)
                                                  .where(last_final.c.state.in_(["created", "updated"])))}
    finally:
        db.dispose()
    rows = _ops(night, "SELECT behandlingsnummer, personnummer FROM spor_behandling")
    return {b: _digits(p or "") for b, p in rows if b in numbers}


def _requests(night):
    from spor.removal.store import list_requests

    db = _state(night)
    try:
        return list_requests(db)
    finally:
        db.dispose()


# --- the acceptance tests ---------------------------------------------------------------------
def test_r11_blocked_and_deltar_ej_never_reach_spor_and_a_late_block_yields_one_request(night):
    """R11/D20 end to end: (1) block-list patients and treatments and deltar_ej treatments never
    appear in any request the stand-in received (numbers and identity numbers grepped); (2) a
    patient blocked after a first send yields exactly ONE removal request listing all that
    patient's accepted treatment numbers, nothing more of the patient is sent, and a third night
    raises no duplicate."""
    dag = load_dag("spor_nightly")
    manifest = night.manifest
    run1 = _run(night, dag, FIRST_NIGHT)
    assert run1.state == "success", run1.state

    blocked = set(manifest.blocked())
    assert {"sparrlista-patient", "sparrlista-treatment", "deltar-ej"} <= set(manifest.blocked().values())
    rows = _ops(night, "SELECT behandlingsnummer, personnummer FROM spor_behandling")
    by_patient: dict[str, set[str]] = {}
    for bnr, pnr in rows:
        by_patient.setdefault(_digits(pnr or ""), set()).add(bnr)
    fully_blocked = {p for p, bnrs in by_patient.items() if p and bnrs <= blocked}
    assert fully_blocked, "the synthetic night should hold patients with every treatment blocked"
    _assert_never_received(night, blocked, fully_blocked)
    assert _requests(night) == [], "nothing blocked was accepted, so nothing to remove yet"

    # A patient with at least two accepted treatments opts out after the first send.
    accepted = _accepted(night)
    counts: dict[str, list[str]] = {}
    for bnr, pnr in accepted.items():
        counts.setdefault(pnr, []).append(bnr)
    pnr, numbers = next((p, sorted(b)) for p, b in sorted(counts.items()) if len(b) >= 2 and len(by_patient[p]) == len(b))
    _ops(night, "INSERT INTO spor_sparrlista (id, personnummer, behandlingsnummer, orsak, kanal, datum) "
                "VALUES (900, ?, NULL, 'patientens begäran', 'brev från patienten', '2025-12-01')", pnr)
    # ...and one of the patient's treatments changes in the OPS: it would be sent again if not blocked.
    _ops(night, "UPDATE spor_behandling SET v335 = coalesce(v335, '2025-11-30 08:00:00'), "
                "andrad_tid = '2025-12-01 12:00:00' WHERE behandlingsnummer = ?", numbers[0])
    sent_before = _received_numbers(night)

    run2 = _run(night, dag, SECOND_NIGHT)
    assert run2.state == "success", run2.state
    assert _received_numbers(night)[len(sent_before):].count(numbers[0]) == 0, "blocked patient sent again (R11)"
    (request,) = _requests(night)
    assert (request.scope, request.block_entry_id, request.environment) == ("patient", "900", "stage")
    assert request.behandlingsnummer == sorted(numbers, key=int)
    assert "ALLA patientens registreringar" in request.text and pnr not in request.text
    assert request.raised_run_id == run2.run_id
    from spor.state import run_summary

    db = _state(night)
    try:
        listed = run_summary.load(db, "spor_nightly", run2.run_id)["removal_requests"]
    finally:
        db.dispose()
    assert [(r["id"], r["scope"], r["behandlingsnummer"]) for r in listed] == \
        [(request.id, "patient", request.behandlingsnummer)], "the run summary lists tonight's request"

    run3 = _run(night, dag, THIRD_NIGHT)
    assert run3.state == "success", run3.state
    assert [r.id for r in _requests(night)] == [request.id], "a later night raised a duplicate"
    db = _state(night)
    try:
        assert run_summary.load(db, "spor_nightly", run3.run_id)["removal_requests"] == []
    finally:
        db.dispose()
    _assert_never_received(night, blocked, fully_blocked)


def test_r11_registration_staged_but_not_sent_when_its_block_arrives_is_never_sent(night):
    """R11: staged in the outbox (the first run reached the deadline before sending), then a
    whole-patient and a treatment block arrive; the next night withdraws them before the batch
    goes, records why, and sends the rest."""
    from spor.state.tables import held_back, outbox
    from tests.dags.nightly_support import ClockScript, scripted_settings

    script = ClockScript(PREPARED_AT, SENDING_AT, speed=5)
    with environment(scripted_settings(night, script)):
        run1 = script.attach(load_dag("spor_nightly")).test(logical_date=None)
    assert run1.state == "failed", run1.state  # all staged rows wait (deadline): not a green night
    assert _received_numbers(night) == [], "nothing may be sent after the deadline"
    dag = load_dag("spor_nightly")
    db = _state(night)
    try:
        with db.read() as conn:
            waiting = {r[0] for r in conn.execute(sa.select(outbox.c.behandlingsnummer))}
    finally:
        db.dispose()
    assert waiting, run1.state
    rows = dict(_ops(night, "SELECT behandlingsnummer, personnummer FROM spor_behandling"))
    patients: dict[str, set[str]] = {}
    for bnr, pnr in rows.items():
        patients.setdefault(_digits(pnr or ""), set()).add(bnr)
    pnr = next(p for p, b in sorted(patients.items()) if p and b <= waiting and len(b) >= 2)
    single = next(b for b in sorted(waiting) if b not in patients[pnr])
    _ops(night, "INSERT INTO spor_sparrlista (id, personnummer, behandlingsnummer, orsak, kanal, datum) "
                "VALUES (901, ?, NULL, 'patientens begäran', 'telefon', '2025-12-01')", pnr)
    _ops(night, "INSERT INTO spor_sparrlista (id, personnummer, behandlingsnummer, orsak, kanal, datum) "
                "VALUES (902, '190001010000', ?, 'patientens begäran', 'telefon', '2025-12-01')", single)
    late_blocked = patients[pnr] | {single}

    run2 = _run(night, dag, SECOND_NIGHT)
    assert run2.state == "success", run2.state
    sent = set(_received_numbers(night))
    assert sent, "the unblocked registrations are sent"
    _assert_never_received(night, late_blocked, {pnr})
    db = _state(night)
    try:
        with db.read() as conn:
            withdrawn = {r[0] for r in conn.execute(sa.select(held_back.c.behandlingsnummer).where(
                held_back.c.state == "withdrawn", held_back.c.rule == "R11"))}
            still = {r[0] for r in conn.execute(sa.select(outbox.c.behandlingsnummer))}
    finally:
        db.dispose()
    assert late_blocked <= withdrawn and not late_blocked & still
    assert _requests(night) == [], "never accepted: nothing to ask UCR to remove"


def test_r11_unreadable_block_list_sends_nothing_and_the_run_says_why(night):
    """R11 fail closed: with spor_sparrlista unreadable the run fails, nothing reaches the stand-in,
    and the run's events name the block list."""
    from spor.state import runlog

    _ops(night, "ALTER TABLE spor_sparrlista RENAME TO spor_sparrlista_moved")
    dag = load_dag("spor_nightly")
    with environment(night_settings(night, FIRST_NIGHT)):
        run = dag.test(logical_date=None)
    assert run.state == "failed", run.state
    assert _received_numbers(night) == [] and not list(night.env.received.glob("*.xml"))
    db = _state(night)
    try:
        stops = [e.message for e in runlog.events(db, run.run_id, runlog.STOP)]
    finally:
        db.dispose()
    assert any("BlockListUnavailable" in m and "spor_sparrlista" in m and "nothing may be sent" in m for m in stops), stops
