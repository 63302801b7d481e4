"""The e-mail text of a removal request (R11 point by point): the scope (one treatment, or the whole
patient with all registrations, other units' too), only the treatment numbers SPOR accepted from
us, the reason, how the staff learned of the wish, the date, SystemId and environment — and no
personal identity number. State parts on SQLite and PostgreSQL (``state_db``)."""

from __future__ import annotations

from spor.removal import nightly
from spor.removal.text import compose_request_text
from tests.spor.removal.removal_fixtures import OTHER, PATIENT, PROD, SID, STAGE, accept, no_identity
from tests.spor.state_fixtures import unknown_system


def test_compose_request_text_for_a_treatment_deleted_in_the_ops_names_our_reference():
    subject, text = compose_request_text(
        request_id=17, cause="deleted", source_key="5001", environment="stage-test-cert", scope="treatment",
        numbers=["5001"], system_ids=[SID], orsak="skickad av misstag / borttagen i OPS", kanal=None, datum="2025-03-04")
    assert subject == "SPOR: begäran om borttagning av data (en behandling), begäran 17, stage-test-cert"
    lines = text.splitlines()
    assert lines[0] == "Till: UCR drift <drift@ucr.uu.se>"
    assert "Hur personalen fick kännedom om patientens önskan: -" in lines
    assert "Miljö: stage, testcertifikat (ucrtestserv01.ucr.uu.se)" in lines
    assert "Vår referens: begäran 17 (borttagen i OPS)" in lines
    assert text.endswith("Vänligen bekräfta till avsändaren när borttagningen är gjord.\n")


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

    raised = nightly.raise_removal_requests(state_db, ops.reader, run_id="night2")

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

    raised = nightly.raise_removal_requests(state_db, ops.reader, run_id="r")

    assert [(r.block_entry_id, r.scope, r.behandlingsnummer) for r in raised] == [("1", "treatment", ["2001"])]
    text = raised[0].text
    assert "Omfattning: EN BEHANDLING. Endast registreringen med behandlingsnumret nedan ska tas bort." in text
    assert "Behandlingsnummer som SPOR har tagit emot från oss: 2001\n" in text
    assert "Anledning: skickad av misstag" in text and "kännedom om patientens önskan: upptäckt vid granskning" in text
    assert "HELA PATIENTEN" not in text and "2002" not in text


def test_r11_one_request_per_environment_naming_it(state_db, ops):
    """Decision: stage and production are separate SPOR databases; each gets its own request."""
    ops.treatment("4001", PATIENT)
    accept(state_db, PROD, "4001")
    accept(state_db, STAGE, "4001")
    ops.block(9, PATIENT)
    raised = nightly.raise_removal_requests(state_db, ops.reader, run_id="r")
    assert sorted(r.environment for r in raised) == [PROD, STAGE]
    stage = next(r for r in raised if r.environment == STAGE)
    assert "Miljö: stage (test-integration.ucr.uu.se, ucrtestserv01.ucr.uu.se: one stage, two entrances)" in stage.text
    assert nightly.raise_removal_requests(state_db, ops.reader, run_id="r2", environment=PROD) == []
