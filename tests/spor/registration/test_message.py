"""The seam to sending: the element, its bytes, its C14N content hash, validation before leaving."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from lxml import etree

from spor.errors import BuildError
from spor.registration.builder import build_registration
from spor.registration.message import content_hash, element_bytes, validate
from spor.registration.schema_files import load_schema

VARIANT_DIR = Path(__file__).resolve().parents[2] / "data" / "spor_schema_variant"
PNR = "197010632391"
SYSTEM_ID = "SE2321000016-OPA1"


def row(**extra: Any) -> dict[str, Any]:
    r: dict[str, Any] = {"behandlingsnummer": "3000042", "enhet": "OP-A", "personnummer": PNR, "akut": 1,
                         "akut_prioritet": "6", "v310": "2025-03-30 01:15:00", "v565": "2025-03-30 04:00:00",
                         "v570": "2025-03-30 05:10:00", "asa": "3", "v675": 36.2}
    r.update(extra)
    return r


CHILDREN = {"preliminar_operationskod": ["NFJ59"], "operationskod": ["NFJ59", "ZXK15"], "diagnos": ["S72.0"]}


def test_xml_bytes_are_the_element_serialised_without_declaration_or_prefix() -> None:
    reg = build_registration(row(), CHILDREN, SYSTEM_ID)
    assert reg.xml_bytes == element_bytes(reg.element) == etree.tostring(reg.element, encoding="UTF-8")
    assert reg.xml_bytes.startswith(b'<postRegistrationRequest xmlns="urn:se:ucr:spor:registration:4_1">')
    assert b"<?xml" not in reg.xml_bytes and b"ns0:" not in reg.xml_bytes
    assert etree.QName(reg.element).localname == "postRegistrationRequest"


def test_content_hash_is_sha256_of_c14n_and_survives_a_round_trip_through_bytes() -> None:
    reg = build_registration(row(), CHILDREN, SYSTEM_ID)
    assert reg.content_hash == hashlib.sha256(etree.tostring(reg.element, method="c14n")).hexdigest()
    reparsed = etree.fromstring(reg.xml_bytes)
    assert content_hash(reparsed) == reg.content_hash
    pretty = etree.fromstring(etree.tostring(reg.element, pretty_print=True), etree.XMLParser(remove_blank_text=True))
    assert content_hash(pretty) == reg.content_hash


def test_same_data_same_hash_whatever_its_python_shape() -> None:
    a = build_registration(row(), CHILDREN, SYSTEM_ID)
    b = build_registration(dict(reversed(list(row().items()))), {k: list(v) for k, v in CHILDREN.items()}, SYSTEM_ID)
    c = build_registration(pd.Series(row(v675="36,2", v565=pd.Timestamp("2025-03-30 04:00:00"))), CHILDREN, SYSTEM_ID)
    assert a.content_hash == b.content_hash == c.content_hash
    assert a.xml_bytes == c.xml_bytes


@pytest.mark.parametrize(("change", "children"), [
    ({"v570": "2025-03-30 05:11:00"}, None),
    ({"asa": "2"}, None),
    ({"enhet": "OP-B"}, "system"),
    ({}, {**CHILDREN, "operationskod": ["ZXK15", "NFJ59"]}),  # order of codes is data
    ({"v450": 1, "v440": "1", "v445": "1a"}, None),
])
def test_any_sent_change_changes_the_hash(change: dict[str, Any], children: Any) -> None:
    base = build_registration(row(), CHILDREN, SYSTEM_ID)
    sid = "SE2321000016-OPB1" if children == "system" else SYSTEM_ID
    kids = CHILDREN if children in (None, "system") else children
    changed = build_registration(row(**change), kids, sid)
    assert changed.content_hash != base.content_hash


def test_columns_that_are_not_sent_do_not_change_the_hash() -> None:
    """andrad_tid and deltar_ej are not registration content: a touch without change is 'unchanged'."""
    a = build_registration(row(andrad_tid="2025-04-01 10:00:00"), CHILDREN, SYSTEM_ID)
    b = build_registration(row(andrad_tid="2025-04-02 11:00:00", deltar_ej=0), CHILDREN, SYSTEM_ID)
    assert a.content_hash == b.content_hash


def test_validate_names_the_element_never_the_value() -> None:
    reg = build_registration(row(), CHILDREN, SYSTEM_ID)
    ns = reg.namespace
    reg.element.find(f"{{{ns}}}registrering/{{{ns}}}patient/{{{ns}}}personId").text = PNR[:-1]
    with pytest.raises(BuildError) as info:
        validate(reg.element, load_schema(), reg.behandlingsnummer)
    err = info.value
    assert (err.rule, err.variable, err.behandlingsnummer) == ("XSD", "personnummer", "3000042")
    assert "registrering/patient/personId" in err.reason
    assert PNR[:-1] not in str(err)
    with pytest.raises(BuildError) as again:  # defaults: the loaded schema, the element's own number
        validate(reg.element)
    assert (again.value.rule, again.value.behandlingsnummer) == ("XSD", "3000042")


def test_built_message_passes_xmllint(tmp_path: Path, xmllint: str) -> None:
    reg = build_registration(row(), CHILDREN, SYSTEM_ID)
    path = tmp_path / f"{reg.behandlingsnummer}.xml"
    path.write_bytes(reg.xml_bytes)
    schema = load_schema()
    run = subprocess.run([xmllint, "--noout", "--schema", str(schema.xsd_path), str(path)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_second_schema_variant_builds_in_its_own_namespace_and_validates(tmp_path: Path, xmllint: str) -> None:
    """A site's schema (another namespace) loaded from a configurable location drives the builder."""
    variant = load_schema(VARIANT_DIR)
    reg = build_registration(row(), CHILDREN, SYSTEM_ID, schema=variant)
    assert reg.namespace == variant.namespace == "urn:example:onboarding:spor:RegistrationService:4_1"
    assert etree.QName(reg.element).namespace == variant.namespace
    assert variant.is_valid(reg.element)
    assert not load_schema().is_valid(reg.element)  # not valid under the shipped namespace
    path = tmp_path / "variant.xml"
    path.write_bytes(reg.xml_bytes)
    run = subprocess.run([xmllint, "--noout", "--schema", str(variant.xsd_path), str(path)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    shipped = build_registration(row(), CHILDREN, SYSTEM_ID)
    assert shipped.content_hash != reg.content_hash  # the namespace is part of the content


def test_builder_refuses_what_the_variant_schema_refuses() -> None:
    """Validation runs against the schema in use, not the shipped one."""
    variant = load_schema(VARIANT_DIR)
    with pytest.raises(BuildError) as info:
        build_registration(row(asa="7"), CHILDREN, SYSTEM_ID, schema=variant)
    assert (info.value.rule, info.value.variable) == ("XSD", "asa")
