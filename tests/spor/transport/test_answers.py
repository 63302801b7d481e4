"""What the client makes of SPOR's answers, against the stand-in over real mutual TLS (R16, R17):
created/updated, rejected with SPOR's text, malformed with the XSD type and rule, masked identity
numbers, and an answer for another behandlingsnummer stopping the run."""

from __future__ import annotations

import pytest

from spor.errors import AnswerError
from spor.lifecycle import State
from spor.transport.answers import familiar_ok_text, parse_fault
from spor.transport.client import SporClient
from standin.testing import hand_built_registration, spor_config


def test_r16_schema_rejection_is_malformed_with_type_and_rule(standin, standin_pki):
    answer = SporClient(spor_config(standin, standin_pki)).post(hand_built_registration("2200059", kvakod="H-CAR"))
    assert answer.state is State.MALFORMED
    assert (answer.fault_type, answer.fault_rule, answer.http_status) == ("kvakod", "cvc-pattern-valid", 500)
    assert answer.result_text.startswith("Unmarshalling Error: cvc-pattern-valid: Value 'H-CAR'")


def test_r16_person_id_in_a_fault_is_masked(standin, standin_pki):
    answer = SporClient(spor_config(standin, standin_pki)).post(
        hand_built_registration("2200060", person_id="19121212-1212"))
    assert answer.state is State.MALFORMED and answer.fault_type == "personnummer"
    assert "1212" not in answer.result_text and "####" in answer.result_text


def test_r17_unknown_system_id_is_rejected_with_the_guides_text(standin, standin_pki):
    answer = SporClient(spor_config(standin, standin_pki)).post(hand_built_registration("2200061", system_id="SE13-137"))
    assert answer.state is State.REJECTED and answer.result_code == "ERROR"
    assert answer.result_text == ("Systemet kunde inte ta emot registreringen: 2200061 "
                                  "Systemet SE13-137 som angivits i SystemId hittas inte")


def test_r17_answer_for_another_behandlingsnummer_stops(standin, standin_pki):
    class Mislabelled:  # says 1 but carries 2: SPOR answers for 2
        behandlingsnummer = "1"
        element = hand_built_registration("2").element

    with pytest.raises(AnswerError, match="not the one sent"):
        SporClient(spor_config(standin, standin_pki)).post(Mislabelled())


@pytest.mark.parametrize(("text", "state", "from_text"), [
    ("Skapade 2200054", State.CREATED, True),
    ("Uppdaterade: 2200054.", State.UPDATED, True),
    ("OK", State.CREATED, False),
    ("Registreringen mottagen", State.CREATED, False),
    ("Registrering 2200054 mottagen 2026-12-07", State.CREATED, False),
])
def test_r17_ok_is_final_whatever_its_text(standin_factory, standin_pki, text, state, from_text):
    """resultCode OK is accepted with any text; the kind comes from the text when it says so."""
    server = standin_factory(ok_text=text.replace("2200054", "{nr}"))
    answer = SporClient(spor_config(server, standin_pki)).post(hand_built_registration("2200054"))
    assert (answer.state, answer.kind_from_text, answer.result_text) == (state, from_text, text)


@pytest.mark.parametrize("text", ["Skapade: 2200099", "Uppdaterade 2200099.", "Registrering 2200099 mottagen"])
def test_r17_ok_naming_another_behandlingsnummer_stops(standin_factory, standin_pki, text):
    server = standin_factory()
    server.answer_ok_with(text)  # changed while it runs
    with pytest.raises(AnswerError, match="naming behandlingsnummer 2200099.*not the one sent"):
        SporClient(spor_config(server, standin_pki)).post(hand_built_registration("2200054"))


def test_familiar_ok_texts_are_the_guides_forms():
    assert all(familiar_ok_text(t) for t in ("Skapade: 2200054", "Skapade 2200054", "Uppdaterade: 2200054.",
                                             "uppdaterade:2200054", "Skapade"))
    assert not any(familiar_ok_text(t) for t in ("OK", "Registreringen mottagen", "", None))


def test_parse_fault_reads_type_rule_and_element():
    assert parse_fault("Unmarshalling Error: cvc-pattern-valid: Value 'H-CAR' is not facet-valid with respect to "
                       "pattern '(\\w\\w\\d\\d\\d)|(\\w\\w\\w\\d\\d)' for type 'kvakod'.") == ("kvakod", "cvc-pattern-valid")
    assert parse_fault("Unmarshalling Error: cvc-complex-type.2.4.a: Invalid content was found starting with "
                       "element 'ns2:akut'. One of '{...}' is expected.") == ("akut", "cvc-complex-type.2.4.a")
    assert parse_fault("something else") == (None, None)
