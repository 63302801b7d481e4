"""One recorded value as the text its variable carries (R12, R13, R15 and the types)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from spor.registration.converters import CONVERTERS, ValueRejected, as_text, hsa_id, is_missing, normalise_kva


@pytest.mark.parametrize("blank", ["", "   ", None, float("nan"), pd.NaT, pd.NA])
def test_r12_not_recorded(blank) -> None:
    assert is_missing(blank)


@pytest.mark.parametrize("value", [0, "0", 0.0, datetime(2025, 1, 1), False])
def test_r12_zero_and_false_are_recorded(value) -> None:
    assert not is_missing(value)


def test_text_of_numbers_and_kva() -> None:
    assert as_text(3000001.0) == "3000001" and as_text(" x ") == "x" and as_text(36.5) == "36.5"
    assert normalise_kva(" jab30 ") == "JAB30"


def test_converters_by_type() -> None:
    assert CONVERTERS["boolean"]("Ja") == "true" and CONVERTERS["boolean"](False) == "false"
    assert CONVERTERS["decimal"]("36,90") == "36.9" and CONVERTERS["decimal"](2.0) == "2"
    assert CONVERTERS["datetime"]("2025-07-01 10:00:00") == "2025-07-01T10:00:00+02:00"


@pytest.mark.parametrize(("kind", "bad", "rule"), [("boolean", "kanske", "type"), ("decimal", "varm", "type"),
                                                   ("decimal", "inf", "type"), ("datetime", "igår", "R13")])
def test_values_that_do_not_fit_name_their_rule(kind: str, bad: str, rule: str) -> None:
    with pytest.raises(ValueRejected) as info:
        CONVERTERS[kind](bad)
    assert info.value.rule == rule


def test_r15_hsa_id() -> None:
    assert hsa_id(" SE2321000016-AB12 ") == "SE2321000016-AB12"
    for bad in ("SE2321000016-" + "A" * 52, "SE2321000016", "SE-AB12"):
        with pytest.raises(ValueRejected) as info:
            hsa_id(bad)
        assert info.value.rule == "R15"
