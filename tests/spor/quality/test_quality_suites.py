"""The suites in expectations/ are the single source of the gate's rules (issue 5, point 1 and 5)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from spor.quality.codelist_suite import build_codelist_suite, load_codelists, suite_json
from spor.quality.suites import SUITES_DIR, SuiteError, load_gx_gate_suite, load_gx_suites, load_suite_dicts

CODELIST_SUITE = SUITES_DIR / "spor_codelists.json"


def _all_expectations() -> list[dict]:
    return [e for s in load_suite_dicts() for e in s["expectations"]]


def test_every_json_expectation_is_known_to_gx():
    """GX silently drops an unknown type (note 19): the loaded counts must equal the JSON counts."""
    dicts = load_suite_dicts()
    loaded = load_gx_suites()
    assert [len(s.expectations) for s in loaded] == [len(d["expectations"]) for d in dicts]
    merged = load_gx_gate_suite()
    assert len(merged.expectations) == len(_all_expectations()) >= 30


def test_unknown_expectation_type_fails_loudly(tmp_path: Path):
    suite = json.loads((SUITES_DIR / "spor_cancellation.json").read_text(encoding="utf-8"))
    suite["expectations"].append({
        "type": "expect_column_values_to_be_spor_valid",  # no such expectation in GX
        "kwargs": {"column": "v310"},
        "meta": {"id": "bogus", "rule": "D99", "severity": "warn", "description": "does not exist"},
    })
    (tmp_path / "s.json").write_text(json.dumps(suite), encoding="utf-8")
    with pytest.raises(SuiteError, match="bogus"):
        load_gx_suites(tmp_path)
    with pytest.raises(SuiteError, match="bogus"):
        load_gx_gate_suite(tmp_path)


@pytest.mark.parametrize("meta, message", [
    ({"id": "x", "rule": "D1", "severity": "fatal", "description": "d"}, "severity"),
    ({"id": "x", "rule": "D21", "severity": "reject", "description": "d", "inferred": True}, "inferred"),
    ({"id": "x", "severity": "warn", "description": "d"}, "rule"),
])
def test_suite_meta_is_checked(tmp_path: Path, meta: dict, message: str):
    suite = {"name": "s", "expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "v310"}, "meta": meta}]}
    (tmp_path / "s.json").write_text(json.dumps(suite), encoding="utf-8")
    with pytest.raises(SuiteError, match=message):
        load_suite_dicts(tmp_path)


def test_every_expectation_has_rule_severity_and_unique_id():
    exps = _all_expectations()
    ids = [e["meta"]["id"] for e in exps]
    assert len(ids) == len(set(ids))
    for e in exps:
        assert e["meta"]["severity"] in ("reject", "warn"), e["meta"]["id"]
        assert e["meta"]["rule"]


def test_d21_plausibility_orders_are_inferred_and_warn():
    d21 = [e for e in _all_expectations() if e["meta"]["rule"] == "D21"]
    pairs = {(e["kwargs"]["column_B"], e["kwargs"]["column_A"]) for e in d21}
    assert pairs == {("v310", "v410"), ("v410", "v415"), ("v415", "v420"), ("v420", "v425"), ("v425", "v430"),
                     ("v540", "v565"), ("v570", "v585"), ("v585", "v800"), ("v310", "v435")}
    assert all(e["meta"]["inferred"] is True and e["meta"]["severity"] == "warn" for e in d21)


def test_fellista_rules_d1_d2_d3_are_warn_and_schema_rules_reject():
    sev = {e["meta"]["id"]: e["meta"]["severity"] for e in _all_expectations()}
    assert sev["D1-opslut-efter-opstart"] == sev["D2-opstart-efter-anmalan"] == sev["D3-knivtid-efter-opstart"] == "warn"
    for eid in ("D5-strykning-komplett", "D17-kva", "D15-shape", "D16-hsaid-pattern", "D11-opkod", "mandatory-V310", "D14-v105"):
        assert sev[eid] == "reject", eid


def test_codelist_suite_is_generated_from_codelists_json():
    """The committed suite equals what codelists.json generates: edit the data, regenerate."""
    assert CODELIST_SUITE.read_text(encoding="utf-8") == suite_json(build_codelist_suite(load_codelists()))


def test_codelist_value_sets_equal_the_code_list_data_and_flag_assumptions():
    codelists = load_codelists()
    suite = json.loads(CODELIST_SUITE.read_text(encoding="utf-8"))
    seen = set()
    for e in suite["expectations"]:
        cl = codelists[e["meta"]["codelist"]]
        seen.add(e["meta"]["codelist"])
        if "value_set" in e["kwargs"]:
            assert set(e["kwargs"]["value_set"]) == set(cl["values"])
        else:
            assert e["kwargs"]["regex"] == cl["pattern"]
        assert e["meta"]["assumption"] is bool(cl["assumption"])
    assert seen == {k for k in codelists if not k.startswith("_")}
    columns = {e["kwargs"]["column"] for e in suite["expectations"]}
    assert {"v105", "v440", "v445", "asa", "v335", "v690", "v810", "akut_prioritet"} <= columns
    assert "12" not in next(e for e in suite["expectations"] if e["kwargs"]["column"] == "v440")["kwargs"]["value_set"]


def test_import_spor_quality_does_not_import_gx_or_pandas():
    """DAG parse time does not grow: GX (6-8 s) and pandas load only inside the task."""
    code = (
        "import sys; import spor.quality, spor.quality.gate, spor.quality.report, "
        "spor.quality.stage_approval, spor.quality.suites, spor.quality.frame; "
        "bad = [m for m in ('great_expectations', 'pandas', 'numpy') if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"
