"""Reading one treatment into checked parts, before any XML: what the rules decide (the rules'
failing cases, through the whole builder, are in test_registration.py)."""

from __future__ import annotations

import pytest

from spor.errors import BuildError, IdentityUnknown
from spor.registration.reading import KVA_PATTERN, LIST_COLUMNS, ZXF99, header_variables, read_treatment

SYSTEM_ID = "SE2321000016-OPA1"
PNR = "197010632391"  # Skatteverket's example samordningsnummer; belongs to nobody in particular
ROW = {"behandlingsnummer": 3000001.0, "enhet": "OP-A", "personnummer": "19701063-2391", "deltar_ej": 0,
       "akut": 0, "v310": "2025-01-10 09:15:00"}


def test_d17_swedish_letters_follow_the_xsd() -> None:
    """Decision: Å, Ä, Ö pass (the XSD's \\w accepts them); digits or '_' in letter positions do not."""
    assert KVA_PATTERN.match("ÅÄ123") and KVA_PATTERN.match("ÖAB12")
    assert not KVA_PATTERN.match("A_123") and not KVA_PATTERN.match("a1234")


def test_parts_of_a_request_are_texts_ready_for_the_message() -> None:
    parts = read_treatment(ROW, {"preliminar_operationskod": [" jab30 "]}, SYSTEM_ID)
    assert (parts.behandlingsnummer, parts.system_id, parts.person_id) == ("3000001", SYSTEM_ID, PNR)
    assert {v.column: texts for v, texts in parts.values.items()} == {"akut": ["false"], "v310": ["2025-01-10T09:15:00+01:00"]}
    assert set(parts.lists) == set(LIST_COLUMNS) and parts.lists["preliminar_operationskod"] == ["JAB30"]
    assert (parts.planned, parts.cancellation, parts.removed_from_waiting_list, parts.adjustments) == (False, None, None, ())


def test_parts_of_a_cancelled_request_carry_the_adjustments() -> None:
    row = {**ROW, "v415": "2025-02-03 07:40:00", "v440": "7", "v445": "7ai", "v450": 1}
    parts = read_treatment(row, None, SYSTEM_ID)
    assert parts.lists["preliminar_operationskod"] == [ZXF99]
    assert parts.cancellation == "requested" and parts.removed_from_waiting_list is True
    assert parts.adjustments == ("D13", "D10", "R8")
    assert "v415" not in {v.column for v in parts.values}  # R8: planning of a never-planned request left out


def test_reading_raises_the_builders_errors() -> None:
    with pytest.raises(IdentityUnknown):
        read_treatment({**ROW, "personnummer": None}, None, SYSTEM_ID)
    with pytest.raises(BuildError) as info:
        read_treatment(ROW, {"operationskod": ["H-CAR"]}, SYSTEM_ID)
    assert (info.value.rule, info.value.variable) == ("D17", "operationskod")


def test_header_variables_are_the_ones_not_read_from_row_values() -> None:
    h = header_variables()
    assert h.recipient.number == "105"
    assert (h.behandlingsnummer.column, h.personnummer.column) == ("behandlingsnummer", "personnummer")
    assert h.system_id not in (h.recipient, h.behandlingsnummer, h.personnummer)
