"""Per-row verdicts of the quality gate (issue 5, point 2): every expectation and Python check
has a row that passes (the valid row) and a row that fails (a mutation of it)."""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta
from typing import Any

import pytest

from spor.quality import QualityGateError, frame_from_treatments, run_gate
from spor.quality.python_checks import PYTHON_CHECKS
from spor.quality.suites import load_suite_dicts
from tests.spor.quality.quality_rows import VALID_PNR, VALID_SAMORDNING, frame, valid_row

# expectation id -> changes that make the valid row fail exactly that expectation (among others)
FAILING: dict[str, dict[str, Any]] = {
    "mandatory-behandlingsnummer": {"behandlingsnummer": None},
    "mandatory-personnummer": {"personnummer": None},
    "mandatory-V310": {"v310": None},
    "mandatory-akut": {"akut": None},
    "D11-opkod": {"preliminar_operationskod": [], "operationskod": [], "v440": None, "v445": None, "v450": None},
    "D15-shape": {"personnummer": "19121212121"},
    "D17-kva": {"operationskod": ["NFB49", "H-CAR"]},
    "D16-hsaid-pattern": {"operator_hsaid": "S_2321000016-X"},
    "D16-hsaid-length": {"operator_hsaid": "SE2321000016-" + "A" * 52},
    "format-akut": {"akut": 2},
    "format-V450": {"v450": 2},
    "D5-strykning-komplett": {"v445": None},
    "D14-v105": {"v105": "NPR"},
    "D13-v440": {"v440": "12"},
    "D13-v445": {"v445": "4"},
    "codelist-asa-asa": {"asa": "7"},
    "codelist-eftervardsniva-v335": {"v335": "9"},
    "codelist-eftervardsniva-v690": {"v690": "9"},
    "codelist-eftervardsniva-v810": {"v810": "9"},
    "codelist-akut-prioritet-akut_prioritet": {"akut_prioritet": "12"},
    "D1-opslut-efter-opstart": {"v570": "2024-01-20 08:04:00"},
    "D2-opstart-efter-anmalan": {"v310": "2024-01-20 08:06:00", "v410": None, "v435": None},
    "D3-knivtid-efter-opstart": {"v567": "2024-01-20 08:04:59"},
    # D21: the later variable one minute before the earlier one
    "D21-310-410": {"v410": "2024-01-02 09:59:00"},
    "D21-410-415": {"v415": "2024-01-03 09:59:00"},
    "D21-415-420": {"v420": "2024-01-20 07:29:00"},
    "D21-420-425": {"v425": "2024-01-20 07:59:00"},
    "D21-425-430": {"v430": "2024-01-20 08:59:00"},
    "D21-540-565": {"v565": "2024-01-20 07:34:00", "v567": None},
    "D21-570-585": {"v585": "2024-01-20 09:04:00"},
    "D21-585-800": {"v800": "2024-01-20 09:39:00"},
    "D21-310-435": {"v435": "2024-01-02 09:59:00"},
    "R9-planering-minimum": {"v425": None, "v430": None},
    # Python checks
    "D15-identity": {"personnummer": VALID_PNR[:-1] + "3"},
    "identity-unknown": {"personnummer": "991234567893"},
    "D18-tid": {"v540": "2024-01-20 7.35"},
    "duplicate-code": {"operationskod": ["NFB49", "ZXF99", " nfb49"]},
}
SEVERITY = {e["meta"]["id"]: e["meta"]["severity"] for s in load_suite_dicts() for e in s["expectations"]}
SEVERITY.update({c["id"]: c["severity"] for c in PYTHON_CHECKS})
RULE = {e["meta"]["id"]: e["meta"]["rule"] for s in load_suite_dicts() for e in s["expectations"]}
RULE.update({c["id"]: c["rule"] for c in PYTHON_CHECKS})


@pytest.fixture
def gate():
    return run_gate


def test_every_expectation_and_check_has_a_failing_case():
    """Adding an expectation to a suite without a test here fails this test."""
    assert set(FAILING) == set(SEVERITY)


@pytest.fixture(scope="module")
def one_run():
    """All mutations and the valid row in one frame: one GX pass for the whole table."""
    rows = [valid_row("9000000")]
    bn_of: dict[str, str] = {}
    for i, (eid, changes) in enumerate(sorted(FAILING.items())):
        bn = str(9000001 + i)
        row = valid_row(bn, **changes)
        if eid == "mandatory-behandlingsnummer":
            row["behandlingsnummer"] = None
            bn = "(saknas)"
        bn_of[eid] = bn
        rows.append(row)
    df = frame(rows)
    df["v105"] = ["NPR" if r.get("v105") == "NPR" else "SPOR" for r in rows]
    return run_gate(df, run_id="t1"), bn_of


def test_valid_row_passes_every_expectation(one_run):
    result, _ = one_run
    assert "9000000" in result.passed_ids
    assert result.verdicts_for("9000000") == []


@pytest.mark.parametrize("expectation_id", sorted(FAILING))
def test_mutated_row_fails_with_its_rule_and_severity(one_run, expectation_id: str):
    result, bn_of = one_run
    bn = bn_of[expectation_id]
    mine = [v for v in result.verdicts_for(bn) if v.expectation_id == expectation_id]
    assert mine, f"{expectation_id} did not fail for its mutated row"
    assert {(v.rule, v.severity) for v in mine} == {(RULE[expectation_id], SEVERITY[expectation_id])}
    if SEVERITY[expectation_id] == "reject":
        assert bn in result.quarantined and bn not in result.sendable_ids
    else:
        assert bn in result.warned and bn in result.sendable_ids and bn not in result.quarantined
    outcome = next(o for o in result.expectation_results if o.expectation_id == expectation_id)
    assert outcome.success is False and outcome.unexpected_count >= 1


def test_time_order_d1_allows_equal_start_and_end(gate):
    """D1: zero-length operation (abandoned, ZXF99) is allowed since June 2016."""
    result = gate(frame([valid_row(v570="2024-01-20 08:05:00", v567=None, v585="2024-01-20 08:30:00")]))
    assert result.passed_ids == {"1000001"}


def test_d2_request_after_start_is_not_claimed_for_acute_operations(gate):
    """D2 exception: an acute operation may be registered afterwards; elective is warned."""
    late = {"v310": "2024-01-20 09:00:00", "v410": None, "v435": None}
    result = gate(frame([valid_row("1", akut=1, **late), valid_row("2", akut=0, **late)]))
    assert "1" in result.passed_ids
    assert [(v.rule, v.severity) for v in result.verdicts_for("2")] == [("D2", "warn")]


def test_d1_compares_the_instants_sent_across_the_autumn_hour(gate):
    """The repeated-hour order rule (ADR 0001): an end at 02:10 after a start at 02:50 on the
    autumn night is the second 02:10, as the builder sends it, so no D1; an end at 01:40 stays a D1."""
    row = valid_row("1", v540="2024-10-27 01:30:00", v565="2024-10-27 02:50:00", v567=None,
                    v570="2024-10-27 02:10:00", v585=None, v800=None)
    early = valid_row("2", v540="2024-10-27 01:30:00", v565="2024-10-27 02:50:00", v567=None,
                      v570="2024-10-27 01:40:00", v585=None, v800=None)
    result = gate(frame([row, early]))
    assert result.verdicts_for("1") == []
    assert {v.rule for v in result.verdicts_for("2")} == {"D1"}


def test_duplicate_code_two_identical_diagnoses_warn_and_are_sent(gate):
    """duplicate-code: the OPS holds the same ICD-10 code twice; the builder sends it once, the
    gate warns (the treatment stays sendable). Distinct codes, and the same code in two different
    lists, pass."""
    rows = [valid_row("1", diagnos=["K35.8", "k35.8"]), valid_row("2", diagnos=["K35.8", "K37"]),
            valid_row("3", anestesiatgard=["ZXA10", "ZXA10"]), valid_row("4", diagnos=None)]
    result = gate(frame(rows))
    assert {(v.behandlingsnummer, v.rule, v.severity) for v in result.verdicts} == {
        ("1", "duplicate-code", "warn"), ("3", "duplicate-code", "warn")}
    assert result.warned == {"1", "3"} and result.sendable_ids == {"1", "2", "3", "4"}
    assert result.passed_ids == {"2", "4"}  # "4": NFB49 as preliminary and performed code
    outcome = next(o for o in result.expectation_results if o.expectation_id == "duplicate-code")
    assert (outcome.success, outcome.unexpected_count, outcome.element_count) == (False, 2, 4)


def test_valid_variants_are_never_dropped(gate):
    """Samordningsnummer, lower-case KVÅ, level-3 reasons, no cancellation, acute without
    priority, cancellation without code (ZXF99 by the builder), datetimes as objects: all pass."""
    rows = [
        valid_row("1", personnummer=VALID_SAMORDNING),
        valid_row("2", operationskod=[" nfb49 "], preliminar_operationskod=["jab30"]),
        valid_row("3", v445="4di"),
        valid_row("4", v440=None, v445=None, v450=None),
        valid_row("5", akut=1, akut_prioritet=None),
        valid_row("6", preliminar_operationskod=[], operationskod=[], anestesiatgard=[]),
        valid_row("7", v565=datetime(2024, 1, 20, 8, 5), v570=datetime(2024, 1, 20, 9, 5)),
        valid_row("8", operator_hsaid=None, asa=None, v335=None, v690=None, v810=None),
        valid_row("9", akut=True, v450=1),
        valid_row("10", v440=4, v445="4d", asa=3),
    ]
    result = gate(frame(rows))
    assert result.verdicts == [] and result.passed_ids == {r["behandlingsnummer"] for r in rows}


def test_many_random_valid_rows_all_pass_and_each_row_is_accounted_for(gate):
    """The gate never drops a valid row: 500 consistent random rows all pass; every id ends up in
    exactly one of passed / warned / quarantined."""
    rnd = random.Random(5)
    rows = []
    for i in range(500):
        t0 = datetime(2024, 1, 1) + timedelta(minutes=rnd.randrange(500_000))
        steps = [timedelta(minutes=rnd.randrange(0, 3000)) for _ in range(12)]
        ts = [t0]
        for s in steps:
            ts.append(ts[-1] + s)
        f = lambda t: t.strftime("%Y-%m-%d %H:%M:%S")  # noqa: E731 - a short name in the table below
        rows.append(valid_row(
            str(2000000 + i), akut=rnd.choice([0, 1]), asa=str(rnd.randint(1, 6)),
            v310=f(ts[0]), v435=f(ts[1]), v410=f(ts[1]), v415=f(ts[2]), v420=f(ts[3]), v425=f(ts[4]), v430=f(ts[5]),
            v540=f(ts[6]), v565=f(ts[7]), v567=f(ts[8]), v570=f(ts[9]), v585=f(ts[10]), v800=f(ts[11]),
        ))
    rows.append(valid_row("2999998", v570="2024-01-20 08:00:00"))    # warn
    rows.append(valid_row("2999999", personnummer="12345"))           # reject
    result = gate(frame(rows))
    assert len(result.passed_ids) == 500
    assert result.warned == {"2999998"} and result.quarantined == {"2999999"}
    assert result.passed_ids | result.warned | result.quarantined == set(result.ids)


def test_reject_and_warn_on_one_row_quarantines_it(gate):
    result = gate(frame([valid_row(asa="9", v570="2024-01-20 08:00:00")]))
    assert result.quarantined == {"1000001"} and result.warned == set()
    assert {v.severity for v in result.verdicts} == {"reject", "warn"}


def test_reservnummer_is_reported_once_as_identity_unknown(gate):
    """A reservnummer with a letter fails the 12-digit shape too; it is reported as identity-unknown
    only, so the caller holds it as IDENTITY_UNKNOWN rather than quarantining it."""
    result = gate(frame([valid_row("1", personnummer="19800101K123"), valid_row("2", personnummer="991980011234")]))
    assert {(v.behandlingsnummer, v.rule) for v in result.verdicts} == {("1", "identity-unknown"), ("2", "identity-unknown")}
    assert result.identity_unknown == {"1", "2"} <= result.quarantined


def test_gate_fails_closed_when_a_column_is_missing(gate):
    df = frame([valid_row()]).drop(columns=["operationskod"])
    with pytest.raises(ValueError, match="child-list"):
        gate(df)


@pytest.mark.parametrize("expectation, message", [
    ({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "no_such_column"}}, "lacks columns"),
    # text compared with a number raises inside GX: the gate must not treat it as a pass
    ({"type": "expect_column_values_to_be_between", "kwargs": {"column": "personnummer", "min_value": 1}},
     "x could not be evaluated"),
])
def test_gate_fails_closed_when_an_expectation_cannot_run(tmp_path, gate, expectation, message):
    import json

    expectation["meta"] = {"id": "x", "rule": "R0", "severity": "reject", "description": "d"}
    (tmp_path / "s.json").write_text(json.dumps({"name": "s", "expectations": [expectation]}), encoding="utf-8")
    with pytest.raises(QualityGateError, match=message) as err:
        gate(frame([valid_row()]), suites_dir=tmp_path)
    assert VALID_PNR not in str(err.value)


def test_frame_from_treatments_flattens_child_lists():
    class T:
        def __init__(self, bn, row, children):
            self.behandlingsnummer, self.row, self.children = bn, row, children
    base = valid_row()
    row = {k: v for k, v in base.items() if not isinstance(v, list) and k not in ("v440", "v445", "v450")}
    df = frame_from_treatments([T("1", dict(row, behandlingsnummer="1"), {"operationskod": ["NFB49"], "diagnos": ["K35.8"]}),
                                T("2", dict(row, behandlingsnummer="2"), {})])
    assert list(df["behandlingsnummer"]) == ["1", "2"]
    assert list(df["operationskod"]) == [["NFB49"], []]
    assert list(df["preliminar_operationskod"]) == [[], []]
    assert list(df["diagnos"]) == [["K35.8"], []]
    result = run_gate(df)
    assert result.passed_ids == {"1"} and {v.rule for v in result.verdicts_for("2")} == {"D11"}


def test_results_json_round_trip_carries_no_values(gate):
    result = gate(frame([valid_row("1", personnummer=VALID_PNR[:-1] + "3"), valid_row("2", personnummer="1912")]), run_id="r1")
    text = result.to_json()
    assert VALID_PNR[:-1] not in text and "1912\"" not in text
    back = type(result).from_json(text)
    assert back.verdicts == result.verdicts and back.quarantined == {"1", "2"}


def test_gate_logs_counts_not_values(gate, caplog):
    caplog.set_level(logging.DEBUG)
    gate(frame([valid_row("1", personnummer=VALID_PNR[:-1] + "3")]), run_id="r2")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "quarantined" in text and VALID_PNR[:-1] not in text


def test_r9_a_planning_without_a_start_or_an_end_is_warned_and_sent(gate):
    """R9 (D4): a recorded planning counts only with a start (V415 or V420) and an end (V425 or
    V430); below that SPOR counts the operation as requested only. The gate warns and the
    treatment stays sendable; a minimum planning with either start and either end passes, and so
    does a treatment with no planning at all (a request)."""
    from spor.quality.verdicts import gate_verdicts
    from spor.verdicts import verdict_line

    no_planning = {c: None for c in ("v410", "v415", "v420", "v425", "v430", "v435")}
    rows = [
        valid_row("1", v425=None, v430=None),                       # a start, no end
        valid_row("2", v415=None, v420=None),                       # an end, no start
        valid_row("3", **{**no_planning, "v410": "2024-01-03 10:00:00"}),  # planned when, no times
        valid_row("4", v415=None, v430=None),                       # V420 and V425: minimum
        valid_row("5", v420=None, v425=None),                       # V415 and V430: minimum
        valid_row("6", **no_planning),                              # a request: no planning
        valid_row("7", v425=None, v430=None, v570="2024-01-20 08:00:00"),  # R9 and D1
    ]
    result = gate(frame(rows))
    r9 = {v.behandlingsnummer for v in result.verdicts if v.rule == "R9"}
    assert r9 == {"1", "2", "3", "7"}
    assert {v.severity for v in result.verdicts if v.rule == "R9"} == {"warn"}
    assert result.sendable_ids == {str(i) for i in range(1, 8)} and result.passed_ids == {"4", "5", "6"}

    lines = {i.behandlingsnummer: verdict_line(i) for i in gate_verdicts(result, "stage")}
    assert lines["1"].split() == ["1", "warned", "[R9]", "SPOR", "counts", "it", "as", "requested", "only:",
                                  "R9-planering-minimum"]
    assert "predicted fellista" not in lines["1"]
    # two consequences on one treatment: both named, with their expectations
    assert "[D1,R9]" in lines["7"] and "predicted fellista: D1-opslut-efter-opstart" in lines["7"]
    assert "SPOR counts it as requested only: R9-planering-minimum" in lines["7"]


def test_r9_consequence_survives_the_stored_result(gate):
    """The gate result kept in the state database gives the same summary reason when read back."""
    from spor.quality.gate import GateResult
    from spor.quality.verdicts import gate_verdicts

    result = gate(frame([valid_row("1", v425=None, v430=None)]))
    again = GateResult.from_json(result.to_json())
    assert gate_verdicts(again, None) == gate_verdicts(result, None)
    assert "requested only" in (gate_verdicts(again, None)[0].reason or "")
