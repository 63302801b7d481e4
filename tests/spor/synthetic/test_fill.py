"""The synthetic OPS generator: deterministic, realistic mix, and a manifest that tells the truth
about every treatment. The manifest's claims are checked against the rows."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from datetime import date, datetime

import pytest
from personnummer import personnummer

from spor.registration.identity import validate_person_id
from spor.synthetic import DEFAULT_UNITS, Manifest, generate

KVA = re.compile(r"^[A-ZÅÄÖ]{2}\d{3}$|^[A-ZÅÄÖ]{3}\d{2}$")
TIMES = ("v310", "v410", "v415", "v420", "v425", "v430", "v435", "v540", "v565", "v567", "v570", "v585", "v800")


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    db = tmp_path_factory.mktemp("synth") / "ops.sqlite"
    t0 = time.perf_counter()
    manifest = generate(f"sqlite:///{db}", n=5000, seed=7)
    elapsed = time.perf_counter() - t0
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    rows = {r["behandlingsnummer"]: dict(r) for r in conn.execute("SELECT * FROM spor_behandling")}
    codes: dict[str, list[str]] = {}
    for r in conn.execute("SELECT behandlingsnummer, kod FROM spor_operationskod"):
        codes.setdefault(r[0], []).append(r[1])
    sparr = [dict(r) for r in conn.execute("SELECT * FROM spor_sparrlista")]
    conn.close()
    return db, manifest, rows, codes, sparr, elapsed


def test_5000_treatments_generate_in_a_few_seconds(generated):
    db, manifest, rows, *_ , elapsed = generated
    assert len(rows) == 5000 == len(manifest.treatments)
    assert elapsed < 10, f"{elapsed:.1f}s"


def test_same_seed_same_data_and_manifest_other_seed_differs(tmp_path):
    def dump(path):
        c = sqlite3.connect(path)
        out = [c.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3").fetchall()
               for t in ("spor_behandling", "spor_operationskod", "spor_diagnos", "spor_sparrlista")]
        c.close()
        return out

    m1 = generate(f"sqlite:///{tmp_path / 'a.sqlite'}", n=400, seed=3)
    m2 = generate(f"sqlite:///{tmp_path / 'b.sqlite'}", n=400, seed=3)
    m3 = generate(f"sqlite:///{tmp_path / 'c.sqlite'}", n=400, seed=4)
    assert m1.to_json() == m2.to_json() != m3.to_json()
    assert dump(tmp_path / "a.sqlite") == dump(tmp_path / "b.sqlite")
    assert dump(tmp_path / "a.sqlite") != dump(tmp_path / "c.sqlite")
    assert (tmp_path / "a.sqlite.manifest.json").is_file()  # written next to the SQLite file


def test_manifest_round_trips_and_never_holds_an_identity_number(generated):
    db, manifest, rows, _codes, sparr, _ = generated
    text = json.dumps(manifest.to_json())
    for value in [r["personnummer"] for r in rows.values()] + [s["personnummer"] for s in sparr]:
        assert value not in text
        assert value.replace("-", "")[2:] not in text  # nor its 10-digit form
    on_disk = Manifest.load(f"{db}.manifest.json")
    assert on_disk.to_json() == manifest.to_json()


def test_d15_identity_numbers_are_generated_valid_except_the_declared_defects(generated):
    _db, manifest, rows, *_ = generated
    wrong_check = manifest.with_defect("D15", include_blocked=True)
    reserv = manifest.with_defect("identity-unknown", include_blocked=True)
    sam = manifest.with_feature("samordningsnummer")
    assert wrong_check and reserv and sam
    for bnr, row in rows.items():
        reason = validate_person_id(row["personnummer"])
        if bnr in wrong_check:
            assert reason == "check digit"
        elif bnr in reserv:
            assert reason == "reservnummer" and row["personnummer"].startswith("99")
        else:
            assert reason is None, bnr
            assert personnummer.valid(row["personnummer"])  # independent cross-check
            assert (int(row["personnummer"][6:8]) > 60) == (bnr in sam)


def test_defect_counts_in_the_manifest_match_the_rows(generated):
    _db, manifest, rows, codes, _sparr, _ = generated

    def where(pred):
        return {b for b, r in rows.items() if pred(r)}

    assert (where(lambda r: any(not KVA.match(c) for c in codes.get(r["behandlingsnummer"], [])))
            == manifest.with_defect("D17", include_blocked=True))
    assert where(lambda r: r["v565"] and r["v570"] and r["v570"] < r["v565"]) == manifest.with_defect("D1", include_blocked=True)
    assert where(lambda r: r["v565"] and r["v310"] and r["v310"] > r["v565"]) == manifest.with_defect("D2", include_blocked=True)
    assert where(lambda r: r["v567"] and r["v567"] < r["v565"]) == manifest.with_defect("D3", include_blocked=True)
    assert where(lambda r: r["v310"] is None) == manifest.with_defect("mandatory-V310", include_blocked=True)
    assert where(lambda r: r["enhet"] not in DEFAULT_UNITS) == manifest.with_defect("unit-mapping", include_blocked=True)
    assert where(lambda r: r["v440"] == "12") == manifest.with_defect("D13", include_blocked=True)
    cancel = ("v440", "v445", "v450")
    assert (where(lambda r: any(r[c] is not None for c in cancel) and any(r[c] is None for c in cancel))
            == manifest.with_defect("D5", include_blocked=True))
    assert where(lambda r: r["v440"] is None and not codes.get(r["behandlingsnummer"])) == manifest.with_defect("D11", include_blocked=True)
    # D2 on both elective and acute operations
    d2 = manifest.with_defect("D2")
    assert {manifest.treatments[b].akut for b in d2} == {True, False}
    # exact, controlled shares
    counts = manifest.counts()["defect"]
    assert counts["D17"] >= 50 and counts["D1"] == 40 and counts["identity-unknown"] == 50


def test_r8_r7_r9_scenarios_have_the_shape_they_claim(generated):
    _db, manifest, rows, codes, *_ = generated
    planning = ("v410", "v415", "v420", "v425", "v430", "v435")
    for bnr, e in manifest.treatments.items():
        r = rows[bnr]
        if e.scenario == "cancelled-unplanned":  # R8: a cancellation, no planning at all
            assert r["v440"] is not None and all(r[c] is None for c in planning)
        if e.scenario == "request-only":  # R7
            assert all(r[c] is None for c in planning + ("v440", "v565"))
        if e.scenario == "planned-below-minimum":  # R9: a start but no end
            assert r["v415"] and not (r["v425"] or r["v430"])
        if e.scenario == "performed-postop":
            assert r["v800"] and r["v565"]
        if "no-prelim-code-zxf99" in e.features:  # D10: the builder adds ZXF99
            assert r["v440"] is not None and not codes.get(bnr)
        if "level3-reason" in e.features:
            assert re.fullmatch(r"(1[01]|[1-9])[a-zA-Z][a-z]+", r["v445"])
    assert all(manifest.with_scenario(s) for s in ("request-only", "planned", "cancelled-unplanned", "cancelled-planned",
                                                   "performed", "performed-postop"))
    akut = {e.akut for e in manifest.treatments.values()}
    assert akut == {True, False}


def test_dst_nights_only_where_the_manifest_says(generated):
    _db, manifest, rows, *_ = generated
    spring, autumn = date(2025, 3, 30), date(2025, 10, 26)
    on_night = {"dst-spring": set(), "dst-autumn": set()}
    for bnr, r in rows.items():
        for c in TIMES:
            if r[c] and r[c][11:13] == "02":
                d = date.fromisoformat(r[c][:10])
                if d == spring:
                    on_night["dst-spring"].add(bnr)
                elif d == autumn:
                    on_night["dst-autumn"].add(bnr)
    assert on_night["dst-spring"] == manifest.with_feature("dst-spring") != set()
    assert on_night["dst-autumn"] == manifest.with_feature("dst-autumn") != set()


def test_last_changed_spreads_over_the_requested_days(generated):
    _db, manifest, rows, *_ = generated
    days = {r["andrad_tid"][:10] for r in rows.values()}
    assert min(days) >= "2025-11-01" and max(days) <= "2025-11-30"
    assert len(days) == 30  # every day has changes: backfill by day is testable
    assert all(rows[b]["andrad_tid"] == e.andrad_tid for b, e in manifest.treatments.items())
    # the andrad_tid survived the child inserts (their triggers stamped 'now')
    assert max(r["andrad_tid"] for r in rows.values()) < datetime.now().strftime("%Y-%m-%d")


def test_block_list_covers_the_declared_blocked_treatments(generated):
    _db, manifest, rows, _codes, sparr, _ = generated
    blocked = manifest.blocked()
    per_treatment = {s["behandlingsnummer"] for s in sparr if s["behandlingsnummer"]}
    assert per_treatment == {b for b, why in blocked.items() if why == "sparrlista-treatment"}
    assert {b for b, r in rows.items() if r["deltar_ej"] == 1} == {b for b, why in blocked.items() if why == "deltar-ej"}
    patients = {s["personnummer"].replace("-", "") for s in sparr if s["behandlingsnummer"] is None}
    assert {b for b, r in rows.items() if r["personnummer"] in patients} == {b for b, why in blocked.items() if why == "sparrlista-patient"}
    # some blocked patients have several treatments, and one entry is written with a hyphen
    assert len(blocked) > len(sparr) - len(per_treatment)
    assert any("-" in s["personnummer"] for s in sparr)
    # a blocked treatment may carry a defect: it must still never be built or reported
    assert any(manifest.treatments[b].defects for b in blocked)


def test_generate_refuses_a_filled_database_unless_replace(tmp_path):
    url = f"sqlite:///{tmp_path / 'ops.sqlite'}"
    generate(url, n=50, seed=1)
    with pytest.raises(ValueError, match="not empty"):
        generate(url, n=50, seed=1)
    assert len(generate(url, n=60, seed=2, replace=True).treatments) == 60
