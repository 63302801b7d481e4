"""The per-run HTML report (issue 5, point 3): each expectation's result, the quarantined and
warned treatment numbers, and never a personal identity number."""

from __future__ import annotations

import re

from spor.pii import PERSON_ID_PATTERN
from spor.quality import render_report, run_gate
from spor.quality.suites import load_suite_dicts
from tests.spor.quality.quality_rows import VALID_PNR, frame, valid_row

BAD_CHECK = VALID_PNR[:-1] + "3"


def _result():
    rows = [
        valid_row("1000001"),
        valid_row("1000002", personnummer=BAD_CHECK),                 # D15 reject
        valid_row("1000003", v570="2024-01-20 08:00:00"),             # D1 warn
        valid_row("1000004", operator_hsaid="<script>alert(1)</script>"),  # D16 reject, must be escaped... nowhere
    ]
    return run_gate(frame(rows), run_id="manual__2024-01-21T02:00:00+00:00")


def test_report_lists_every_expectation_and_the_quarantined_and_warned_numbers():
    result = _result()
    html = render_report(result, "manual__2024-01-21T02:00:00+00:00")
    assert html.startswith("<!DOCTYPE html>") and html.endswith("</html>")
    for suite in load_suite_dicts():
        for e in suite["expectations"]:
            assert f"<td>{e['meta']['id']}</td>" in html
    quarantined = html.split("<h2>Quarantined")[1].split("<h2>Warned")[0]
    warned = html.split("<h2>Warned")[1]
    assert "1000002" in quarantined and "1000004" in quarantined and "1000003" not in quarantined
    assert "1000003" in warned and "1000002" not in warned
    assert "D15 (D15-identity)" in quarantined and "D1 (D1-opslut-efter-opstart)" in warned
    assert "1000001" not in quarantined + warned


def test_report_is_self_contained_and_holds_no_values():
    html = render_report(_result(), "run<1>")
    assert "<script" not in html and "src=" not in html and "http" not in html
    assert "run&lt;1&gt;" in html
    assert "alert(1)" not in html  # a failing value never reaches the page
    assert not PERSON_ID_PATTERN.search(html)
    # 10-12 digit runs would be identity numbers; treatment numbers here are 7 digits
    assert not re.search(r"(?<!\d)\d{10,12}(?!\d)", html)


def test_report_with_everything_passing_says_none():
    html = render_report(run_gate(frame([valid_row()])), "r")
    assert html.count("<p>none</p>") == 2
