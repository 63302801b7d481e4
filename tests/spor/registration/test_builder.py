"""Registration assembly: each rule the builder enforces, with a passing and a failing case."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
import pytest
from lxml import etree

from spor.errors import BuildError, IdentityUnknown
from spor.registration.builder import AFTER_ACCEPT_RULES, BUILD_RULES, Registration, build_registration
from spor.registration.identity import luhn_check_digit
from spor.registration.schema_files import load_schema

NS = load_schema().namespace
SYSTEM_ID = "SE2321000016-OPA1"
PNR = "197010632391"  # Skatteverket's example samordningsnummer; belongs to nobody in particular


def request_row(**extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "behandlingsnummer": "3000001", "enhet": "OP-A", "personnummer": PNR, "deltar_ej": 0,
        "akut": 0, "v310": "2025-01-10 09:15:00",
    }
    row.update(extra)
    return row


PLANNING = {"v410": "2025-01-12 10:00:00", "v415": "2025-02-03 07:40:00", "v420": "2025-02-03 08:00:00",
            "v425": "2025-02-03 09:30:00", "v430": "2025-02-03 09:50:00", "v435": "2025-01-13 11:00:00"}
PERFORMED = {"v540": "2025-02-03 07:45:00", "v565": "2025-02-03 08:05:00", "v570": "2025-02-03 09:20:00",
             "v585": "2025-02-03 09:40:00", "asa": "2", "operator_hsaid": "SE2321000016-AB12", "v675": 36.4, "v690": "2"}
POSTOP = {"v800": "2025-02-03 12:00:00", "v810": "1", "v875": 36.9}
CANCEL = {"v440": "7", "v445": "7a", "v450": 1}
CODES = {"preliminar_operationskod": ["JAB30"]}


def build(row: dict[str, Any], children: dict[str, list[str]] | None = None, system_id: str | None = SYSTEM_ID) -> Registration:
    return build_registration(row, CODES if children is None else children, system_id)


def q(reg: Registration, path: str) -> list[str]:
    """Texts at a path of local names below the request, e.g. 'registrering/planering/strykning/*'."""
    steps = "/".join(f"n:{s}" if s != "*" else "*" for s in path.split("/"))
    return [e.text for e in reg.element.xpath(steps, namespaces={"n": NS})]


def children_of(reg: Registration, path: str) -> list[str]:
    steps = "/".join(f"n:{s}" for s in path.split("/"))
    found = reg.element.xpath(steps, namespaces={"n": NS})
    return [etree.QName(c).localname for c in found[0]] if found else []


def fails(rule: str, variable: str | None = None, **kw: Any) -> BuildError:
    with pytest.raises(BuildError) as info:
        build(**kw)
    err = info.value
    assert err.rule == rule, (err.rule, err.variable, err.reason)
    if variable is not None:
        assert err.variable == variable
    assert err.behandlingsnummer == kw["row"].get("behandlingsnummer", "?")
    assert PNR not in str(err)
    return err


# --- R5: the whole registration ---------------------------------------------------------------
def test_r5_every_recorded_variable_is_sent() -> None:
    reg = build(request_row(**PLANNING, **PERFORMED, **POSTOP),
                {"preliminar_operationskod": ["JAB30"], "operationskod": ["JAB30", "NFB49"], "diagnos": ["K35.8"],
                 "anestesiatgard": ["ZXA10"], "perop_komplikation": ["OP3.1"], "postop_komplikation": ["UVA2.4"]})
    assert children_of(reg, "registrering") == ["behandlingsnummer", "patient", "anmalan", "planering", "genomforande", "postop"]
    assert len(children_of(reg, "registrering/planering")) == 6
    assert q(reg, "registrering/genomforande/operationskod") == ["JAB30", "NFB49"]
    assert q(reg, "registrering/postop/komplikation") == ["UVA2.4"]
    assert reg.performed and reg.planned and reg.cancellation is None


def test_r5_dropping_a_variable_changes_the_message() -> None:
    full = build(request_row(**PLANNING, **PERFORMED))
    less = build(request_row(**PLANNING, **{**PERFORMED, "v585": None}))
    assert full.content_hash != less.content_hash
    assert q(less, "registrering/genomforande/patienttidSlut") == []


# --- R7: request alone ------------------------------------------------------------------------
def test_r7_request_alone_has_no_planering_part() -> None:
    reg = build(request_row())
    assert children_of(reg, "registrering") == ["behandlingsnummer", "patient", "anmalan"]
    assert b"planering" not in reg.xml_bytes


def test_r7_request_with_planning_gets_planering() -> None:
    reg = build(request_row(v410="2025-01-12 10:00:00"))
    assert children_of(reg, "registrering") == ["behandlingsnummer", "patient", "anmalan", "planering"]


# --- R8: cancelled, never planned → only strykning ------------------------------------------------
def test_r8_cancelled_unplanned_request_sends_only_strykning() -> None:
    reg = build(request_row(**CANCEL))
    assert children_of(reg, "registrering/planering") == ["strykning"]
    assert children_of(reg, "registrering/planering/strykning") == ["storningstyp", "storningsorsak", "avforsFranVantelistan"]
    assert q(reg, "registrering/planering/strykning/*") == ["7", "7a", "true"]
    assert reg.cancellation == "requested"


def test_r8_partial_planning_of_a_cancelled_request_is_left_out() -> None:
    """Below minimum planning the request counts as never planned: other planning variables go (R8)."""
    reg = build(request_row(**CANCEL, v410="2025-01-12 10:00:00", v415="2025-02-03 07:40:00"))
    assert children_of(reg, "registrering/planering") == ["strykning"]
    assert "R8" in reg.adjustments


def test_r8_cancelled_planned_operation_keeps_its_planning() -> None:
    reg = build(request_row(**PLANNING, **CANCEL))
    assert children_of(reg, "registrering/planering")[-1] == "strykning"
    assert len(children_of(reg, "registrering/planering")) == 7
    assert "R8" not in reg.adjustments


# --- R9 / D4: minimum planning ----------------------------------------------------------------
@pytest.mark.parametrize(("start", "end"), [("v415", "v430"), ("v415", "v425"), ("v420", "v430"), ("v420", "v425")])
def test_r9_minimum_planning_one_start_and_one_end(start: str, end: str) -> None:
    reg = build(request_row(**{start: PLANNING[start], end: PLANNING[end]}))
    assert reg.planned


@pytest.mark.parametrize("only", [("v415", "v420"), ("v425", "v430"), ("v410", "v435"), ("v415",)])
def test_r9_below_minimum_planning_counts_as_requested_only(only: tuple[str, ...]) -> None:
    reg = build(request_row(**{k: PLANNING[k] for k in only}))
    assert not reg.planned
    assert len(children_of(reg, "registrering/planering")) == len(only)  # still sent as recorded (R5)


# --- R10: meaning of a cancellation --------------------------------------------------------------
def test_r10_cancellation_with_start_and_end_cancels_a_planned_operation() -> None:
    reg = build(request_row(v420=PLANNING["v420"], v425=PLANNING["v425"], **{**CANCEL, "v450": 0}))
    assert reg.cancellation == "planned"
    assert reg.removed_from_waiting_list is False
    assert q(reg, "registrering/planering/strykning/avforsFranVantelistan") == ["false"]


def test_r10_cancellation_without_an_end_cancels_a_requested_operation() -> None:
    reg = build(request_row(v420=PLANNING["v420"], **CANCEL))
    assert reg.cancellation == "requested"
    assert reg.removed_from_waiting_list is True


def test_r10_no_strykning_no_cancellation() -> None:
    assert build(request_row(**PLANNING)).cancellation is None


# --- R12: no empty elements ---------------------------------------------------------------------
@pytest.mark.parametrize("blank", ["", "   ", None, float("nan"), pd.NaT, pd.NA])
def test_r12_not_recorded_values_leave_no_element(blank: Any) -> None:
    reg = build(request_row(akut_prioritet=blank, v335=blank, v410=blank, v675=blank),
                {"preliminar_operationskod": ["JAB30", blank], "diagnos": [blank]})
    assert b"<akutPrioritet" not in reg.xml_bytes and b"planering" not in reg.xml_bytes
    assert b"diagnos" not in reg.xml_bytes
    assert q(reg, "registrering/anmalan/preliminarOperationskod") == ["JAB30"]
    assert all(e.text and e.text.strip() for e in reg.element.iter() if len(e) == 0)


def test_r12_an_empty_element_fails_validation_naming_the_element() -> None:
    from spor.registration.message import validate

    reg = build(request_row())
    etree.SubElement(reg.element.find(f"{{{NS}}}registrering/{{{NS}}}anmalan"), f"{{{NS}}}akutPrioritet").text = ""
    # akutPrioritet now sits after preliminarOperationskod: both order and emptiness are wrong
    with pytest.raises(BuildError) as info:
        validate(reg.element, load_schema(), reg.behandlingsnummer)
    assert info.value.rule == "XSD"


# --- R13: times ---------------------------------------------------------------------------------
def test_r13_times_carry_the_stockholm_offset_in_force() -> None:
    reg = build(request_row(v310="2025-01-10 09:15:00", v565="2025-03-30 02:30:00", v570="2025-10-26 02:30:00",
                            v800=datetime(2025, 7, 1, 12, 0), v585=pd.Timestamp("2025-10-26 03:10:00")))
    assert q(reg, "registrering/anmalan/tidpunktOpAnmalan") == ["2025-01-10T09:15:00+01:00"]
    assert q(reg, "registrering/genomforande/operationStart") == ["2025-03-30T03:30:00+02:00"]  # spring gap (ADR 0001)
    assert q(reg, "registrering/genomforande/operationSlut") == ["2025-10-26T02:30:00+02:00"]  # repeated hour
    assert q(reg, "registrering/genomforande/patienttidSlut") == ["2025-10-26T03:10:00+01:00"]
    assert q(reg, "registrering/postop/utFranPostop") == ["2025-07-01T12:00:00+02:00"]


@pytest.mark.parametrize("bad", ["2025-02-30 10:00:00", "igår", "10:00"])
def test_r13_unreadable_time_is_not_buildable(bad: str) -> None:
    err = fails("R13", "v565", row=request_row(v565=bad))
    assert bad not in str(err)


# --- R14 / D15: identity -----------------------------------------------------------------------
def test_r14_samordningsnummer_and_personnummer_are_sent_as_12_digits() -> None:
    nine = "811218987"
    pnr = "19" + nine + luhn_check_digit(nine)
    assert q(build(request_row(personnummer=pnr)), "registrering/patient/personId") == [pnr]
    assert q(build(request_row(personnummer="19701063-2391")), "registrering/patient/personId") == [PNR]


@pytest.mark.parametrize("bad", ["197010632392", "19701063239", "197013012391", "7010632391"])
def test_r14_invalid_identity_number_is_not_buildable(bad: str) -> None:
    with pytest.raises(BuildError) as info:
        build(request_row(personnummer=bad))
    assert not isinstance(info.value, IdentityUnknown)
    assert (info.value.rule, info.value.variable) == ("D15", "personnummer")
    assert bad not in str(info.value) and bad not in info.value.reason


@pytest.mark.parametrize("held", ["990101123456", "19701003K123", None, ""])
def test_r14_reservnummer_or_missing_identity_is_held_back_as_identity_unknown(held: Any) -> None:
    with pytest.raises(IdentityUnknown) as info:
        build(request_row(personnummer=held))
    assert (info.value.rule, info.value.variable, info.value.behandlingsnummer) == ("D15", "personnummer", "3000001")
    if held:
        assert held not in str(info.value)


# --- R15: HSA-ID -------------------------------------------------------------------------------
def test_r15_hsa_id_of_64_characters_is_sent() -> None:
    hsa = "SE2321000016-" + "A" * (64 - 13)
    reg = build(request_row(**{**PERFORMED, "operator_hsaid": hsa}), system_id=hsa)
    assert q(reg, "registrering/genomforande/operatorHsaId") == [hsa]
    assert q(reg, "systemId") == [hsa]


@pytest.mark.parametrize("bad", ["SE2321000016-" + "A" * 52, "SE2321000016", "2321000016-AB", "SE-AB12", "SE23 21-AB"])
def test_r15_bad_operator_hsa_id_is_not_buildable(bad: str) -> None:
    fails("R15", "operator_hsaid", row=request_row(**{**PERFORMED, "operator_hsaid": bad}))


def test_r15_bad_system_id_is_not_buildable() -> None:
    fails("R15", "system_id", row=request_row(), system_id="OPA1")


def test_unit_without_system_id_mapping_is_not_buildable() -> None:
    fails("unit-mapping", "system_id", row=request_row(), system_id=None)


# --- R20: Recipient Message Split ----------------------------------------------------------------
def test_r20_v105_is_spor() -> None:
    reg = build(request_row())
    assert q(reg, "recipientMessageSplit/recipient") == ["SPOR"]
    assert [etree.QName(c).localname for c in reg.element][:2] == ["recipientMessageSplit", "systemId"]


def test_r20_other_recipient_fails_the_xsd(monkeypatch: pytest.MonkeyPatch) -> None:
    from spor.registration import codelists

    monkeypatch.setattr(codelists, "recipients", lambda: ("SWEDEHEART",))
    err = fails("XSD", row=request_row())
    assert err.variable == "V105"
    assert "recipientMessageSplit/recipient" in err.reason


# --- D5: cancellation complete ------------------------------------------------------------------
@pytest.mark.parametrize("drop", ["v440", "v445", "v450"])
def test_d5_incomplete_cancellation_is_not_buildable(drop: str) -> None:
    fails("D5", drop, row=request_row(**{**CANCEL, drop: None}))


def test_d5_complete_cancellation_builds() -> None:
    assert build(request_row(**CANCEL)).cancellation == "requested"


# --- D10 / D11: operation code -------------------------------------------------------------------
def test_d10_cancellation_without_operation_code_gets_zxf99() -> None:
    reg = build(request_row(**CANCEL), children={})
    assert q(reg, "registrering/anmalan/preliminarOperationskod") == ["ZXF99"]
    assert "D10" in reg.adjustments


def test_d10_cancellation_with_a_code_keeps_it() -> None:
    reg = build(request_row(**CANCEL), children={"preliminar_operationskod": ["NFB49"]})
    assert q(reg, "registrering/anmalan/preliminarOperationskod") == ["NFB49"]
    assert "D10" not in reg.adjustments


def test_d11_no_operation_code_is_not_buildable() -> None:
    fails("D11", "operationskod", row=request_row(**PERFORMED), children={"diagnos": ["K35.8"]})


def test_d11_performed_code_alone_is_enough() -> None:
    reg = build(request_row(**PERFORMED), children={"operationskod": ["NFB49"]})
    assert q(reg, "registrering/genomforande/operationskod") == ["NFB49"]


# --- D13: cancellation reason levels ---------------------------------------------------------------
@pytest.mark.parametrize(("typ", "orsak", "sent"), [("1", "1ai", "1a"), ("11", "11Cx", "11C"), ("4", "4dii", "4d")])
def test_d13_level3_reason_is_sent_as_its_level2_parent(typ: str, orsak: str, sent: str) -> None:
    reg = build(request_row(v440=typ, v445=orsak, v450=1))
    assert q(reg, "registrering/planering/strykning/storningsorsak") == [sent]
    assert "D13" in reg.adjustments


def test_d13_level2_reason_is_sent_unchanged() -> None:
    reg = build(request_row(v440="8", v445="8B", v450=0))
    assert q(reg, "registrering/planering/strykning/*") == ["8", "8B", "false"]
    assert "D13" not in reg.adjustments


@pytest.mark.parametrize(("typ", "orsak", "variable"), [("12", "12a", "v440"), ("13", "1a", "v440"), ("7", "7", "v445"),
                                                        ("7", "4d", "v445"), ("7", "7a1", "v445")])
def test_d13_reason_12_or_malformed_is_not_buildable(typ: str, orsak: str, variable: str) -> None:
    fails("D13", variable, row=request_row(v440=typ, v445=orsak, v450=1))


# --- D17: KVÅ -------------------------------------------------------------------------------------
def test_d17_kva_is_normalised() -> None:
    reg = build(request_row(), children={"preliminar_operationskod": [" jab30 ", "zxf99"]})
    assert q(reg, "registrering/anmalan/preliminarOperationskod") == ["JAB30", "ZXF99"]


@pytest.mark.parametrize("bad", ["H-CAR", "J4B30", "AB1234", "1AB23", "HCAR", "AB_12", "AB12٣"])
@pytest.mark.parametrize("column", ["preliminar_operationskod", "operationskod", "anestesiatgard"])
def test_d17_bad_kva_is_not_buildable(bad: str, column: str) -> None:
    err = fails("D17", column, row=request_row(**PERFORMED), children={"preliminar_operationskod": ["JAB30"], column: [bad]})
    assert bad not in str(err) or bad == "HCAR"  # the code is not personal, but the reason names the rule


# --- duplicate-code: a code the OPS lists twice is sent once ----------------------------------------
def test_duplicate_code_two_identical_diagnoses_are_sent_once() -> None:
    reg = build(request_row(), children={"preliminar_operationskod": ["JAB30"], "diagnos": ["K35.8", "k35.8", "K37"]})
    assert q(reg, "registrering/anmalan/diagnos") == ["K35.8", "K37"]
    assert "duplicate-code" in reg.adjustments


@pytest.mark.parametrize("column, path", [
    ("preliminar_operationskod", "registrering/anmalan/preliminarOperationskod"),
    ("operationskod", "registrering/genomforande/operationskod"),
    ("anestesiatgard", "registrering/genomforande/anestesiatgard"),
])
def test_duplicate_code_same_kva_twice_is_sent_once_in_its_first_place(column: str, path: str) -> None:
    children = {"preliminar_operationskod": ["JAB30"], column: ["NFB49", "ZXA10", " nfb49 "]}
    reg = build(request_row(**PERFORMED), children=children)
    assert q(reg, path) == ["NFB49", "ZXA10"]
    assert reg.adjustments.count("duplicate-code") == 1


def test_duplicate_code_same_code_in_two_lists_is_not_a_duplicate() -> None:
    """The preliminary and the performed code may be the same operation: both are sent."""
    reg = build(request_row(**PERFORMED), children={"preliminar_operationskod": ["JAB30"], "operationskod": ["JAB30"],
                                                    "diagnos": ["K35.8", "K37"]})
    assert q(reg, "registrering/anmalan/preliminarOperationskod") == ["JAB30"]
    assert q(reg, "registrering/genomforande/operationskod") == ["JAB30"]
    assert q(reg, "registrering/anmalan/diagnos") == ["K35.8", "K37"]
    assert "duplicate-code" not in reg.adjustments


def test_duplicate_code_changes_nothing_else_in_the_message() -> None:
    once = build(request_row(), children={"preliminar_operationskod": ["JAB30"], "diagnos": ["K35.8"]})
    twice = build(request_row(), children={"preliminar_operationskod": ["JAB30", "JAB30"], "diagnos": ["K35.8", "K35.8"]})
    assert twice.xml_bytes == once.xml_bytes and twice.content_hash == once.content_hash


# --- mandatory, types ---------------------------------------------------------------------------
@pytest.mark.parametrize("column", ["v310", "akut"])
def test_mandatory_variable_missing_is_not_buildable(column: str) -> None:
    fails("mandatory", column, row=request_row(**{column: None}))


def test_missing_behandlingsnummer_is_not_buildable() -> None:
    with pytest.raises(BuildError) as info:
        build(request_row(behandlingsnummer=None))
    assert (info.value.rule, info.value.variable) == ("mandatory", "behandlingsnummer")


@pytest.mark.parametrize(("column", "bad"), [("akut", "kanske"), ("v675", "varm"), ("v450", "2")])
def test_type_errors_are_not_buildable(column: str, bad: str) -> None:
    row = request_row(**CANCEL) if column == "v450" else request_row()
    fails("type", column, row={**row, column: bad})


@pytest.mark.parametrize("column", ["akut_prioritet", "operator_hsaid"])
def test_control_characters_are_not_buildable(column: str) -> None:
    value = "6\x00" if column == "akut_prioritet" else "SE2321000016-A\x01B"
    fails("type", column, row=request_row(**{**PERFORMED, column: value}))


def test_values_from_pandas_and_numbers() -> None:
    row = pd.Series(request_row(behandlingsnummer=3000001.0, akut=True, v675=36.45, asa=2.0, **{**POSTOP, "v875": "36,9"}))
    reg = build_registration(row, CODES, SYSTEM_ID)
    assert reg.behandlingsnummer == "3000001"
    assert q(reg, "registrering/anmalan/akut") == ["true"]
    assert q(reg, "registrering/genomforande/temperatur1") == ["36.45"]
    assert q(reg, "registrering/genomforande/asaKlass") == ["2"]
    assert q(reg, "registrering/postop/temperatur") == ["36.9"]


def test_rules_after_acceptance_do_not_stop_the_build() -> None:
    """D1/D2/D3 are SPOR's error list, not build failures: the quality gate reports them."""
    reg = build(request_row(v310="2025-02-05 10:00:00", v565="2025-02-03 10:00:00", v567="2025-02-03 09:00:00",
                            v570="2025-02-03 08:00:00"))
    assert reg.performed
    assert {"D1", "D2", "D3", "D9", "D21", "D22"} <= set(AFTER_ACCEPT_RULES)
    assert not set(AFTER_ACCEPT_RULES) & set(BUILD_RULES)


def test_build_rules_document_every_rule_the_builder_raises() -> None:
    for rule in ("R5", "R7", "R8", "R9", "R10", "R12", "R13", "R15", "R20", "D5", "D10", "D11", "D13", "D15", "D17",
                 "duplicate-code", "mandatory", "unit-mapping", "type", "XSD"):
        assert rule in BUILD_RULES


def test_one_bad_treatment_does_not_stop_the_others() -> None:
    rows = [request_row(behandlingsnummer=str(3000001 + i)) for i in range(5)]
    rows[2]["v440"] = "7"  # incomplete cancellation
    built, failed = [], []
    for r in rows:
        try:
            built.append(build(r).behandlingsnummer)
        except BuildError as exc:
            failed.append((exc.behandlingsnummer, exc.rule))
    assert failed == [("3000003", "D5")]
    assert len(built) == 4
