"""The variable list and code lists as data, and their agreement with the XSD and the source contract."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from lxml import etree

from spor.registration import codelists
from spor.registration.message import REGISTRATION_ELEMENT
from spor.registration.reading import LIST_COLUMNS
from spor.registration.schema_files import load_schema
from spor.registration.variable_list import (
    PARTS,
    all_variables,
    behandling_columns,
    by_column,
    by_label,
    by_number,
    list_variables,
    mandatory_variables,
    variables_in_part,
)

ROOT = Path(__file__).resolve().parents[3]
XS = "{http://www.w3.org/2001/XMLSchema}"


def xsd_leaves() -> list[tuple[str, str, str, str]]:
    """(request-relative path, type, minOccurs, maxOccurs) of every leaf element, in XSD order."""
    doc = etree.parse(str(load_schema().xsd_path)).getroot()
    types = {t.get("name"): t for t in doc.findall(f"{XS}complexType")}
    out: list[tuple[str, str, str, str]] = []

    def walk(ctype: etree._Element, prefix: str) -> None:
        for el in ctype.find(f"{XS}sequence").findall(f"{XS}element"):
            path = f"{prefix}{el.get('name')}"
            tname = (el.get("type") or "").split(":")[-1]
            if tname in types:
                walk(types[tname], path + "/")
            else:
                out.append((path, tname, el.get("minOccurs", "1"), el.get("maxOccurs", "1")))

    request = doc.find(f"{XS}element[@name='postRegistrationRequest']/{XS}complexType")
    walk(request, "")
    return out


def request_path(v) -> str:
    return v.xml_element if v.part == "header" else f"{REGISTRATION_ELEMENT}/{v.xml_element}"


def test_every_variable_has_an_element_in_the_xsd_in_the_same_order() -> None:
    leaves = [p for p, *_ in xsd_leaves()]
    csv_paths = [request_path(v) for v in all_variables()]
    assert set(csv_paths) <= set(leaves), set(csv_paths) - set(leaves)
    assert [p for p in leaves if p in csv_paths] == csv_paths  # variable list order = XSD order
    assert set(leaves) == set(csv_paths)  # and the XSD has nothing the variable list does not know


def test_list_variables_repeat_and_others_do_not() -> None:
    info = {p: (t, lo, hi) for p, t, lo, hi in xsd_leaves()}
    for v in all_variables():
        _, _, hi = info[request_path(v)]
        if v.is_list or v.number == "105":
            assert hi == "unbounded", v.label
        else:
            assert hi == "1", v.label


def test_kva_lists_use_the_kvakod_type() -> None:
    info = {p: t for p, t, *_ in xsd_leaves()}
    kva = [v for v in all_variables() if v.type == "kva-list"]
    assert {v.column for v in kva} == {"preliminar_operationskod", "operationskod", "anestesiatgard"}
    assert all(info[request_path(v)] == "kvakod" for v in kva)


def test_mandatory_yes_matches_xsd_min_occurs() -> None:
    info = {p: lo for p, _, lo, _ in xsd_leaves()}
    for v in all_variables():
        if v.mandatory == "yes":
            assert info[request_path(v)] == "1", v.label
        elif v.mandatory == "no":
            assert info[request_path(v)] == "0", v.label
        else:  # conditional: optional, or required inside an optional part (strykning: D5)
            assert info[request_path(v)] == "0" or v.part == "strykning", v.label


def test_columns_exist_in_the_source_contract() -> None:
    con = sqlite3.connect(":memory:")
    con.executescript((ROOT / "sql" / "contract" / "sqlite.sql").read_text())
    columns = {r[1] for r in con.execute("PRAGMA table_info(spor_behandling)")}
    from_config = {"system_id"}  # the unit → SystemId mapping is configuration, not data
    assert set(behandling_columns()) - from_config <= columns
    assert set(LIST_COLUMNS) == {v.column for v in list_variables()}


def test_lookups() -> None:
    assert by_number(310) is by_number("310") is by_column("v310") is by_label("V310")
    assert by_label("system_id").part == "header"
    assert by_column("v445").label == "V445"
    assert by_column("asa").label == "asa"
    assert by_column("v310").is_assumption and not by_column("v410").is_assumption
    assert [v.column for v in variables_in_part("strykning")] == ["v440", "v445", "v450"]
    assert {v.column for v in mandatory_variables()} >= {"v310", "akut", "personnummer", "behandlingsnummer"}
    with pytest.raises(ValueError):
        variables_in_part("anamnes")
    with pytest.raises(KeyError):
        by_column("v999")


def test_every_part_is_used_and_every_codelist_exists() -> None:
    assert {v.part for v in all_variables()} == set(PARTS)
    for v in all_variables():
        if v.codelist:
            assert codelists.codelist(v.codelist)["variable"] is not None, v.label


def test_codelists() -> None:
    assert codelists.recipients() == ("SPOR",)  # R20
    assert codelists.never_sent_storningstyp() == ("12",)  # D13
    level2, level3 = codelists.storningsorsak_patterns()
    assert level2.match("11C") and level2.match("1a") and not level2.match("1ai")
    assert level3.match("1ai") and level3.match("11Cx") and not level3.match("12")
    assert codelists.is_assumption("asa") and not codelists.is_assumption("recipient")
    assert codelists.values("storningsorsak")["8B"]
