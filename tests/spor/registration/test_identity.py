"""R14/D15: personnummer and samordningsnummer validation, cross-checked against PyPI personnummer."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from personnummer import personnummer  # the module holds valid/parse

from spor.pii import PERSON_ID_PATTERN, mask_person_ids
from spor.registration.identity import (
    is_samordningsnummer,
    luhn_check_digit,
    validate_person_id,
)

birth_dates = st.dates(min_value=date(1880, 1, 1), max_value=date(2030, 12, 31))
serials = st.integers(min_value=1, max_value=999)


def make_id(born: date, serial: int, samordning: bool = False) -> str:
    day = born.day + (60 if samordning else 0)
    nine = f"{born.year % 100:02d}{born.month:02d}{day:02d}{serial:03d}"
    return f"{born.year // 100:02d}{nine}{luhn_check_digit(nine)}"


def test_luhn_check_digit_known_example() -> None:
    # Skatteverket's samordningsnummer example 701063-239C: check digit 1.
    assert luhn_check_digit("701063239") == "1"
    assert luhn_check_digit("811218987") == "6"  # 811218-9876, common documentation example


def test_luhn_check_digit_needs_nine_digits() -> None:
    with pytest.raises(ValueError):
        luhn_check_digit("12345678")


@settings(max_examples=400)
@given(born=birth_dates, serial=serials, samordning=st.booleans())
def test_r14_generated_ids_are_valid_and_agree_with_personnummer(born: date, serial: int, samordning: bool) -> None:
    value = make_id(born, serial, samordning)
    assert validate_person_id(value) is None
    assert personnummer.valid(value)
    assert is_samordningsnummer(value) is samordning
    assert personnummer.parse(value).is_coordination_number() is samordning


@settings(max_examples=400)
@given(born=birth_dates, serial=serials, samordning=st.booleans(), wrong=st.integers(1, 9))
def test_r14_wrong_check_digit_is_rejected(born: date, serial: int, samordning: bool, wrong: int) -> None:
    value = make_id(born, serial, samordning)
    bad = value[:-1] + str((int(value[-1]) + wrong) % 10)
    assert validate_person_id(bad) == "check digit"
    assert not personnummer.valid(bad)


@settings(max_examples=2000)
@given(st.sampled_from(["18", "19", "20"]), st.text("0123456789", min_size=10, max_size=10))
def test_r14_random_twelve_digits_agree_with_personnummer(century: str, rest: str) -> None:
    value = century + rest
    assert (validate_person_id(value) is None) == personnummer.valid(value)


def test_r14_samordningsnummer_accepted_where_stdnum_would_not() -> None:
    # Skatteverket's example man born 1970-10-03, serial 239 → 701063-2391, 12 digits 197010632391.
    assert validate_person_id("197010632391") is None
    assert is_samordningsnummer("197010632391")
    assert not is_samordningsnummer(make_id(date(1970, 10, 3), 239))


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("19701063239", "not 12 digits"),  # 11 digits
        ("7010632391", "not 12 digits"),  # 10-digit form: SPOR needs the century
        ("19701063-2391", "not 12 digits"),
        ("", "not 12 digits"),
        ("197013012391", "invalid date"),  # month 13
        ("197002300000", "invalid date"),  # 30 February
        ("197010920000", "invalid date"),  # samordningsnummer day 92 − 60 = 32
        ("197010600000", "invalid date"),  # day 60 is neither
        ("990101123456", "reservnummer"),  # Region Stockholm style 99yyyy…
        ("19701003K123", "reservnummer"),  # VGR style with a letter
        ("217010031234", "invalid century"),
    ],
)
def test_r14_invalid_ids_get_a_reason_without_the_value(value: str, reason: str) -> None:
    got = validate_person_id(value)
    assert got == reason
    if value:
        assert value not in got


def test_r14_serial_000_is_rejected_like_personnummer() -> None:
    nine = "701003000"
    value = "19" + nine + luhn_check_digit(nine)
    assert validate_person_id(value) == "invalid serial"
    assert not personnummer.valid(value)


def test_non_string_is_rejected() -> None:
    assert validate_person_id(197010632391) == "not 12 digits"  # type: ignore[arg-type]  # a number where a string belongs, on purpose


@settings(max_examples=300)
@given(born=birth_dates, serial=serials, samordning=st.booleans(), sep=st.sampled_from(["", "-", "+"]),
       long_form=st.booleans(), prefix=st.sampled_from(["", "pnr ", "x=", "(", "id:"]),
       suffix=st.sampled_from(["", " ok", ")", ".", ","]))
def test_mask_person_ids_hides_every_form(born: date, serial: int, samordning: bool, sep: str, long_form: bool,
                                          prefix: str, suffix: str) -> None:
    value = make_id(born, serial, samordning)
    shown = (value[:8] if long_form else value[2:8]) + sep + value[8:]
    text = f"{prefix}{shown}{suffix} behandlingsnummer 2200054"
    masked = mask_person_ids(text)
    assert shown not in masked
    assert value[2:] not in masked.replace("-", "").replace("+", "")
    assert "2200054" in masked  # treatment numbers stay readable
    assert PERSON_ID_PATTERN.search(text)
    assert not PERSON_ID_PATTERN.search(masked)


def test_mask_person_ids_leaves_other_numbers() -> None:
    text = "behandlingsnummer 2200054, 5000 rows, kvå DG021, 2024-03-31T02:30:00+02:00"
    assert mask_person_ids(text) == text
