"""Stage-approval evidence (R4): per-variable mapping coverage, quality results, SPOR's answers."""

from __future__ import annotations

import json
import re

from spor.pii import PERSON_ID_PATTERN
from spor.quality import run_gate, stage_approval_data, stage_approval_report
from tests.spor.quality.quality_rows import VALID_PNR, frame, valid_row

LEDGER = {"sent": 4, "created": 2, "updated": 1, "rejected": 1}


def _setup():
    rows = [
        valid_row("1"),
        valid_row("2", v567=None, operator_hsaid=None, anestesiatgard=[]),
        valid_row("3", v567=None, asa="9"),
        valid_row("4", v567=None, personnummer=VALID_PNR[:-1] + "3"),
    ]
    df = frame(rows)
    return df, run_gate(df, run_id="stage-1")


def test_r4_mapping_coverage_is_the_share_of_registrations_carrying_each_variable():
    df, result = _setup()
    data = stage_approval_data(df, result, LEDGER, run_id="stage-1")
    cov = {r["column"] or r["number"]: r for r in data["mapping_coverage"]}
    assert cov["v567"]["carried"] == 1 and cov["v567"]["share"] == 0.25
    assert cov["operator_hsaid"]["share"] == 0.75
    assert cov["anestesiatgard"]["share"] == 0.75           # an empty child list does not count
    assert cov["v310"]["share"] == 1.0
    assert cov["105"]["source"] == "configuration" and cov["105"]["share"] is None
    assert cov["system_id"]["source"] == "configuration"
    import csv

    from spor.quality.stage_approval import VARIABLES_PATH
    with VARIABLES_PATH.open(encoding="utf-8") as fh:
        assert len(data["mapping_coverage"]) == len(list(csv.DictReader(fh)))


def test_r4_report_holds_quality_results_and_spor_answers_without_values():
    df, result = _setup()
    html = stage_approval_report(df, result, LEDGER, run_id="stage-1")
    assert "Mapping coverage" in html and "25.0 %" in html
    assert "<td>rejected</td><td>1</td>" in html and "<td>created</td><td>2</td>" in html
    assert "codelist-asa-asa" in html and "D15-identity" in html
    payload = json.loads(re.search(r"<script type='application/json' id='evidence'>(.*)</script>", html, re.S).group(1))
    assert payload["spor_answers"] == dict(sorted(LEDGER.items()))
    assert payload["quality"]["summary"]["quarantined"] == 2
    assert payload["quality"]["treatments_by_rule"] == {"D15": 1, "codelist-asa": 1}
    assert not PERSON_ID_PATTERN.search(html)
    assert not re.search(r"(?<!\d)\d{10,12}(?!\d)", html)
