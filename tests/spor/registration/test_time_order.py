"""The repeated-hour order rule (ADR 0001): a time in the repeated autumn hour is read as the second
occurrence (+01:00) exactly when, read as the first, it would come before a time the expected order
(D1, D2, D3, D21) puts before it, and read as the second it would not. The builder and the quality
gate's frame use the one rule, so the gate compares the instants the message carries. The spring
gap is unchanged. Property tests over both DST nights of 2020-2030; the oracle for the DST nights
is the EU rule computed by hand (tests/spor/registration/test_localtime.py), not zoneinfo."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spor.quality import run_gate
from spor.quality.frame import prepare_frame
from spor.registration.builder import build_registration
from spor.registration.localtime import to_iso
from spor.registration.reading import read_treatment
from spor.registration.time_order import EXPECTED_ORDER, TIME_COLUMNS_IN_ORDER
from tests.spor.quality.quality_rows import valid_row
from tests.spor.registration.test_localtime import last_sunday, summer_ends_utc

UTC = UTC
SYSTEM_ID = "SE2321000016-OPA1"
PNR = "197010632391"
OPERATION_DAY = ("v540", "v565", "v567", "v570", "v585", "v800")
AUTUMN, SPRING = "2024-10-27", "2024-03-31"


def _row(akut: int = 0, **times: str | None) -> dict:
    row = {"behandlingsnummer": "3000001", "enhet": "OP-A", "personnummer": PNR, "deltar_ej": 0, "akut": akut,
           "v310": "2019-01-10 09:15:00"}  # before every night the tests draw
    row.update({k: v for k, v in times.items() if v is not None})
    return row


def _sent(row: dict) -> dict[str, str]:
    """Column -> the ISO text the builder sends."""
    parts = read_treatment(row, {"preliminar_operationskod": ["JAB30"]}, SYSTEM_ID)
    return {v.column: texts[0] for v, texts in parts.values.items() if v.column in TIME_COLUMNS_IN_ORDER}


def _instant(iso: str) -> datetime:
    return datetime.fromisoformat(iso).astimezone(UTC)


def _consistent(instants: dict[str, datetime], elective: bool) -> bool:
    return all(instants[b] >= instants[a] for a, b, rule in EXPECTED_ORDER
               if a in instants and b in instants and (rule != "D2" or elective))


def _wall(d: date, seconds: int) -> str:
    return (datetime.combine(d, datetime.min.time()) + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")


def test_repeated_hour_order_walks_the_gates_time_order_expectations():
    """The rule's expected order is exactly the pairs the gate checks (D1, D2, D3, D21)."""
    from spor.quality.suites import load_suite_dicts

    gate = {(e["kwargs"]["column_B"].replace("q_v310_elektiv", "v310"), e["kwargs"]["column_A"], e["meta"]["rule"])
            for suite in load_suite_dicts() if suite["name"] == "spor_time_order" for e in suite["expectations"]}
    assert gate == set(EXPECTED_ORDER)


# --- examples -----------------------------------------------------------------------------------
def test_repeated_hour_order_end_before_start_is_the_second_occurrence():
    """02:50 -> 02:10: the end is read as the second 02:10 (+01:00); so is a later 02:30."""
    sent = _sent(_row(v540=f"{AUTUMN} 01:30:00", v565=f"{AUTUMN} 02:50:00", v570=f"{AUTUMN} 02:10:00",
                      v585=f"{AUTUMN} 02:30:00", v800=f"{AUTUMN} 04:00:00"))
    assert sent["v540"] == f"{AUTUMN}T01:30:00+02:00"
    assert sent["v565"] == f"{AUTUMN}T02:50:00+02:00"
    assert sent["v570"] == f"{AUTUMN}T02:10:00+01:00"
    assert sent["v585"] == f"{AUTUMN}T02:30:00+01:00"
    assert sent["v800"] == f"{AUTUMN}T04:00:00+01:00"


def test_repeated_hour_order_operation_across_the_second_two_oclock_is_sent_without_d1():
    """The gate and the message agree: no D1 warning, offsets +02:00 / +01:00 in the XML."""
    times = dict(v540=f"{AUTUMN} 02:30:00", v565=f"{AUTUMN} 02:50:00", v567=None, v570=f"{AUTUMN} 02:10:00",
                 v585=f"{AUTUMN} 03:20:00", v800=f"{AUTUMN} 04:30:00")
    result = run_gate(pd.DataFrame([valid_row("1", **times)]))
    assert result.verdicts_for("1") == []
    reg = build_registration(_row(**{k: v for k, v in times.items() if v}), {"preliminar_operationskod": ["JAB30"]},
                             SYSTEM_ID)
    assert f"{AUTUMN}T02:50:00+02:00".encode() in reg.xml_bytes
    assert f"{AUTUMN}T02:10:00+01:00".encode() in reg.xml_bytes


def test_repeated_hour_order_times_already_in_order_stay_the_first_occurrence():
    sent = _sent(_row(v565=f"{AUTUMN} 02:10:00", v570=f"{AUTUMN} 02:50:00"))
    assert (sent["v565"], sent["v570"]) == (f"{AUTUMN}T02:10:00+02:00", f"{AUTUMN}T02:50:00+02:00")


def test_repeated_hour_order_fails_when_no_reading_mends_the_order():
    """End 02:10 after a start at 03:20 (+01:00): even the second 02:10 is earlier, so the end
    stays the first occurrence and the gate reports D1 (reported, not repaired)."""
    times = dict(v540=f"{AUTUMN} 03:00:00", v565=f"{AUTUMN} 03:20:00", v567=None, v570=f"{AUTUMN} 02:10:00",
                 v585=f"{AUTUMN} 03:40:00", v800=f"{AUTUMN} 04:30:00")
    assert _sent(_row(**{k: v for k, v in times.items() if v}))["v570"] == f"{AUTUMN}T02:10:00+02:00"
    result = run_gate(pd.DataFrame([valid_row("1", **times)]))
    assert {v.rule for v in result.verdicts_for("1")} == {"D1"}


def test_repeated_hour_order_fails_in_the_spring_gap_as_before():
    """The spring night has no second occurrence: 02:50 -> 02:10 is 03:50+02:00 -> 03:10+02:00, a D1."""
    times = dict(v540=f"{SPRING} 01:30:00", v565=f"{SPRING} 02:50:00", v567=None, v570=f"{SPRING} 02:10:00",
                 v585=f"{SPRING} 04:00:00", v800=f"{SPRING} 05:00:00")
    sent = _sent(_row(**{k: v for k, v in times.items() if v}))
    assert (sent["v565"], sent["v570"]) == (f"{SPRING}T03:50:00+02:00", f"{SPRING}T03:10:00+02:00")
    result = run_gate(pd.DataFrame([valid_row("1", **times)]))
    assert {v.rule for v in result.verdicts_for("1")} == {"D1"}


@pytest.mark.parametrize("akut, offset", [(0, "+01:00"), (1, "+02:00")])
def test_repeated_hour_order_request_before_start_binds_elective_operations_only(akut, offset):
    """D2 binds elective operations only: an acute operation's start may precede its request."""
    sent = _sent(_row(akut=akut, v310=f"{AUTUMN} 02:50:00", v565=f"{AUTUMN} 02:10:00"))
    assert sent["v565"] == f"{AUTUMN}T02:10:00{offset}"


def test_repeated_hour_order_follows_the_order_through_a_missing_time():
    """No V570: patient time end (V585) is still after the operation start (V565)."""
    sent = _sent(_row(v565=f"{AUTUMN} 02:50:00", v585=f"{AUTUMN} 02:15:00"))
    assert sent["v585"] == f"{AUTUMN}T02:15:00+01:00"


# --- properties over both DST nights --------------------------------------------------------------
nights = st.integers(2020, 2030).flatmap(lambda y: st.sampled_from([last_sunday(y, 3), last_sunday(y, 10)]))
night_seconds = st.integers(0, 5 * 3600 - 1)  # 00:00-04:59 local on the night


@st.composite
def registrations(draw, night=None):
    """Times of one registration on a DST night, in any order, some not recorded."""
    d = draw(nights) if night is None else night
    times = {c: _wall(d, draw(night_seconds)) for c in OPERATION_DAY if draw(st.booleans()) or c == "v565"}
    if draw(st.booleans()):
        times["v310"] = _wall(d, draw(night_seconds))
    return draw(st.sampled_from([0, 1])), times


@settings(max_examples=60, deadline=None)
@given(st.lists(registrations(), min_size=1, max_size=15))
def test_repeated_hour_order_gate_and_builder_read_the_same_instants(regs):
    rows = [dict(valid_row(str(i), **{c: None for c in TIME_COLUMNS_IN_ORDER}), **_row(akut=akut, **times))
            for i, (akut, times) in enumerate(regs)]
    prepared = prepare_frame(pd.DataFrame(rows))
    for i, (akut, times) in enumerate(regs):
        sent = _sent(_row(akut=akut, **times))
        for column in times:
            gate = prepared[column].iat[i].to_pydatetime().replace(tzinfo=UTC)
            assert gate == _instant(sent[column]), (column, times)


@st.composite
def true_sequences(draw):
    """A real registration across the autumn night: instants in the expected order (UTC), as the
    OPS records them (Stockholm wall clock, the fold lost)."""
    year = draw(st.integers(2020, 2030))
    start = summer_ends_utc(year) - timedelta(hours=2) + timedelta(seconds=draw(st.integers(0, 3 * 3600)))
    steps = draw(st.lists(st.integers(0, 50 * 60), min_size=len(OPERATION_DAY), max_size=len(OPERATION_DAY)))
    truth: dict[str, datetime] = {}
    at = start
    for column, step in zip(("v540", "v565", "v570", "v585", "v800", "v567"), steps):
        at = at + timedelta(seconds=step) if column != "v567" else truth["v565"] + timedelta(seconds=step)
        truth[column] = at
    recorded = {c: t for c, t in truth.items() if c == "v565" or draw(st.booleans())}
    return recorded


@settings(max_examples=500, deadline=None)
@given(true_sequences())
def test_repeated_hour_order_real_sequences_are_read_in_order_never_later_than_the_truth(truth):
    """Times that really were in order are always read in an order the gate accepts, and no time
    is read later than it happened (the rule never invents a second occurrence)."""
    from spor.clock import STOCKHOLM

    walls = {c: t.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M:%S") for c, t in truth.items()}
    read = {c: _instant(iso) for c, iso in _sent(_row(**walls)).items() if c in walls}
    assert _consistent(read, elective=False)
    assert all(read[c] <= truth[c] for c in truth), (walls, read, truth)


@settings(max_examples=300, deadline=None)
@given(registrations())
def test_repeated_hour_order_changes_nothing_when_the_first_reading_is_in_order(reg):
    """The second occurrence is never chosen unless the first reading breaks the order; and the
    spring night (no second occurrence) always reads every time on its own, as before."""
    akut, times = reg
    row = _row(akut=akut, **times)
    first = {c: _instant(to_iso(row[c])) for c in TIME_COLUMNS_IN_ORDER if c in row}
    sent = _sent(row)
    night = date.fromisoformat(times["v565"][:10])
    if _consistent(first, elective=not akut) or night.month == 3:
        assert sent == {c: to_iso(row[c]) for c in first}
    else:
        changed = {c for c in first if sent[c] != to_iso(row[c])}
        assert all(sent[c].endswith("+01:00") and to_iso(row[c]).endswith("+02:00") for c in changed)
