"""Opt-out filter, fail closed (R11, D20; issue 6 point 1): whole-patient and per-treatment block
list entries and the OPS's deltar_ej flag drop treatments before anything else sees them; an
unreadable block list stops everything; nothing personal reaches a message or a repr."""

from __future__ import annotations

import sqlite3
from datetime import date

import pytest
import sqlalchemy as sa

from spor.errors import BlockListUnavailable, RunStoppingError
from spor.extract.optout import BlockList, apply, normalise_person_id, read_block_list
from spor.extract.source import SourceReader, Treatment
from spor.synthetic import generate

PNR = "197010632391"  # Skatteverket's published samordningsnummer example, not a person's


def _t(bnr: str, pnr: str | None, deltar_ej=0) -> Treatment:
    return Treatment(bnr, {"behandlingsnummer": bnr, "personnummer": pnr, "deltar_ej": deltar_ej})


class _Rows:
    def __init__(self, rows=None, error: Exception | None = None):
        self.rows, self.error = rows or [], error

    def block_list_rows(self):
        if self.error:
            raise self.error
        return self.rows


def _entry(id_, pnr, bnr=None):
    return {"id": id_, "personnummer": pnr, "behandlingsnummer": bnr, "orsak": "patientens begäran",
            "kanal": "telefon", "datum": "2025-10-01"}


def test_normalise_person_id_to_twelve_digits():
    assert normalise_person_id("19701063-2391") == PNR
    assert normalise_person_id(" 197010632391 ") == PNR
    assert normalise_person_id("701063-2391", today=date(2025, 1, 1)) == PNR
    assert normalise_person_id("121212+1212", today=date(2025, 1, 1)) == "191212121212"  # '+' = 100 or older
    assert normalise_person_id("121212-1212", today=date(2025, 1, 1)) == "201212121212"
    assert normalise_person_id("19900101k123") == "19900101K123"  # reservnummer kept, only compacted
    assert normalise_person_id(None) is None and normalise_person_id("  ") is None


def test_r11_whole_patient_entry_blocks_every_treatment_of_that_patient_only():
    bl = read_block_list(_Rows([_entry(1, "19701063-2391")]))  # typed with a hyphen
    allowed, blocked = apply([_t("1", PNR), _t("2", PNR), _t("3", "197010632383")], bl)
    assert [t.behandlingsnummer for t in allowed] == ["3"]
    assert blocked == [("1", "sparrlista-patient"), ("2", "sparrlista-patient")]


def test_r11_treatment_entry_blocks_that_treatment_only_matched_on_its_number():
    bl = read_block_list(_Rows([_entry(1, "190001010000", "2")]))  # whoever the entry names
    allowed, blocked = apply([_t("1", PNR), _t("2", PNR)], bl)
    assert [t.behandlingsnummer for t in allowed] == ["1"]
    assert blocked == [("2", "sparrlista-treatment")]


def test_d20_deltar_ej_flag_blocks_and_unclear_values_fail_closed():
    bl = BlockList([])
    allowed, blocked = apply([_t("1", PNR, 1), _t("2", PNR, 0), _t("3", PNR, None), _t("4", PNR, "x"),
                              _t("5", PNR, "0"), _t("6", PNR, True)], bl)
    assert [t.behandlingsnummer for t in allowed] == ["2", "3", "5"]
    assert blocked == [("1", "deltar-ej"), ("4", "deltar-ej"), ("6", "deltar-ej")]


def test_r11_samordningsnummer_replaced_by_personnummer_needs_the_entry_updated():
    """Documented behaviour (docs/source-contract.md): matching is on the current 12-digit number;
    a whole-patient entry still holding the old samordningsnummer no longer matches."""
    old, new = PNR, "197010032391"
    bl = read_block_list(_Rows([_entry(1, old)]))
    assert bl.blocks(new, "9") is None
    assert read_block_list(_Rows([_entry(1, new)])).blocks(new, "9") == "sparrlista-patient"


def test_r11_unreadable_block_list_stops_the_run_without_personal_data():
    secret = f"relation spor_sparrlista: value {PNR} broke"
    with pytest.raises(BlockListUnavailable) as info:
        read_block_list(_Rows(error=sqlite3.OperationalError(secret)))
    assert isinstance(info.value, RunStoppingError)
    assert PNR not in str(info.value) and "R11" in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_r11_missing_table_in_a_real_database_fails_closed(ops_engine):
    generate(ops_engine, n=20, seed=1)
    with ops_engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE spor_sparrlista"))
    with pytest.raises(BlockListUnavailable, match="could not be read"):
        read_block_list(SourceReader.from_url(ops_engine))


def test_r11_entry_naming_nobody_fails_closed():
    with pytest.raises(BlockListUnavailable, match="id=7"):
        read_block_list(_Rows([_entry(1, PNR), {**_entry(7, None), "personnummer": " "}]))


def test_block_list_and_entries_never_show_identity_numbers():
    bl = read_block_list(_Rows([_entry(1, PNR), _entry(2, PNR, "55")]))
    assert PNR not in repr(bl) and all(PNR not in repr(e) for e in bl.entries)
    assert bl.match(PNR, "1").orsak == "patientens begäran"  # the entry is there for the ledger


def test_r11_d20_generated_database_blocks_exactly_the_manifests_blocked_set(ops_engine):
    manifest = generate(ops_engine, n=2000, seed=9)
    reader = SourceReader.from_url(ops_engine, page_size=300)
    bl = read_block_list(reader)
    allowed_ids, blocked = set(), {}
    for batch in reader.all():
        allowed, b = apply(batch, bl)
        allowed_ids |= {t.behandlingsnummer for t in allowed}
        blocked.update(b)
    assert blocked == manifest.blocked()
    assert allowed_ids == set(manifest.treatments) - set(blocked)
    assert {"sparrlista-patient", "sparrlista-treatment", "deltar-ej"} == set(blocked.values())
