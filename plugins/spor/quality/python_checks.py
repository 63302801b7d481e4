"""Checks GX cannot express, reported in the same per-row verdict format as the suites.

- D15: the identity number's date, serial and check digit (``spor.registration.identity.validate_person_id``);
- identity-unknown: a reservnummer. SPOR would refuse it, so it is not sent; the caller holds it as
  State.IDENTITY_UNKNOWN (``GateResult.identity_unknown``) rather than quarantining it;
- D18: a time the OPS gave that is not a wall-clock time, so no ISO 8601 time can be built;
- duplicate-code: a child list (diagnoses, KVÅ codes, complications) holds the same code twice,
  compared as the builder sends it (``spor.registration.reading.code_as_sent``). The builder sends it
  once; the warning tells the unit that its OPS holds a duplicate.

No value ever leaves this module: a verdict names the treatment number and the rule only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spor.quality.frame import ID_COLUMN, TIME_COLUMNS
from spor.registration.identity import validate_person_id

if TYPE_CHECKING:
    import pandas as pd

#: "type" is the id quality reports kept in the state database were written with: it names the
#: function behind the check where it lived in 0.2 (spor.build became spor.registration) and does not move.
PYTHON_CHECKS: tuple[dict[str, Any], ...] = (
    {"id": "D15-identity", "rule": "D15", "severity": "reject", "inferred": False, "assumption": False,
     "type": "python:spor.build.identity.validate_person_id",
     "description": "12-digit personnummer/samordningsnummer with a real date (day - 60 for samordningsnummer), "
                    "serial and Luhn check digit"},
    {"id": "identity-unknown", "rule": "identity-unknown", "severity": "reject", "inferred": False, "assumption": False,
     "type": "python:spor.build.identity.validate_person_id",
     "description": "reservnummer: held back (identity unknown) until the OPS records a real personnummer"},
    {"id": "D18-tid", "rule": "D18", "severity": "reject", "inferred": False, "assumption": False,
     "type": "python:spor.quality.frame.parse_times",
     "description": "every recorded time is a wall-clock time 'YYYY-MM-DD HH:MM:SS'"},
    {"id": "duplicate-code", "rule": "duplicate-code", "severity": "warn", "inferred": False, "assumption": False,
     "type": "python:spor.build.reading.code_as_sent",
     "description": "no code twice in one list (diagnoses, KVÅ codes, complications); a repeat is sent once"},
)
CHECK_META = {c["id"]: c for c in PYTHON_CHECKS}


def identity_failures(prepared: pd.DataFrame) -> tuple[list[str], list[str], int]:
    """(ids failing D15 beyond the shape, ids with a reservnummer, rows checked).

    Rows without a personnummer, or not 12 characters of digits and not a reservnummer, are left
    to the GX expectations (mandatory-personnummer, D15-shape) so each defect is reported once.
    """
    bad: list[str] = []
    reserv: list[str] = []
    checked = 0
    reasons: dict[str, str | None] = {}  # a patient has several treatments: validate each id once
    for bn, pid in zip(prepared[ID_COLUMN], prepared["personnummer"]):
        if pid is None or not isinstance(pid, str):
            continue
        checked += 1
        if pid not in reasons:
            reasons[pid] = validate_person_id(pid)
        reason = reasons[pid]
        if reason is None or reason == "not 12 digits":
            continue
        (reserv if reason == "reservnummer" else bad).append(bn)
    return bad, reserv, checked


def unparseable_time_ids(raw: pd.DataFrame, prepared: pd.DataFrame) -> list[str]:
    """Treatments where a time was recorded but does not parse (prepared value is NaT)."""
    import pandas as pd

    mask = pd.Series(False, index=raw.index)
    for col in TIME_COLUMNS:
        if col in raw.columns:
            mask |= raw[col].notna() & prepared[col].isna()
    return [str(v) for v in prepared.loc[mask, ID_COLUMN]]


def duplicate_code_ids(prepared: pd.DataFrame) -> tuple[list[str], int]:
    """(treatments with a code twice in one child list, rows checked). Codes are compared as the
    builder sends them, so ' nfb49' and 'NFB49' are the same code; the same code in two different
    lists (preliminary and performed) is not a duplicate."""
    from spor.registration.converters import is_missing
    from spor.registration.reading import LIST_COLUMNS, code_as_sent

    columns = [c for c in LIST_COLUMNS if c in prepared.columns]
    if not columns:
        return [], len(prepared)
    failing = []
    for bn, *lists in zip(prepared[ID_COLUMN], *(prepared[c] for c in columns)):
        for column, codes in zip(columns, lists):
            if not isinstance(codes, (list, tuple)) or len(codes) < 2:
                continue
            sent = [code_as_sent(column, c) for c in codes if not is_missing(c)]
            if len(set(sent)) < len(sent):
                failing.append(str(bn))
                break
    return failing, len(prepared)
