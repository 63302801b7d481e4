"""Read one OPS treatment (a spor_behandling row + its child lists) into checked, typed parts.

``read_treatment(row, children, system_id)`` applies every rule that decides *what* a
registration says, before any XML exists: the behandlingsnummer and SystemId are present, the
identity number is valid (D15), each recorded value fits its variable (R12, R13, R15, types;
a time in the repeated autumn hour by the repeated-hour order rule, ``spor.registration.time_order``),
mandatory variables are recorded, a cancellation is complete (D5) with a reason at the right
level (D13), KVÅ codes are well formed (D17), a code repeated in one list is sent once
(duplicate-code), there is an operation code (D10, D11), and
planning decides what a cancellation means (R8, R9, R10). It returns ``TreatmentParts`` or
raises ``IdentityUnknown`` / ``BuildError`` naming the source-contract column and the rule, never
a personal value. ``spor.registration.builder`` writes the parts as the message.

Variables come from the variable list (``spor.registration.variable_list``): a new variable is a change
to ``data/variables.csv``, not to this module.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from spor.errors import BuildError, IdentityUnknown
from spor.registration import codelists
from spor.registration.converters import CONVERTERS, ValueRejected, as_text, hsa_id, is_missing, normalise_kva
from spor.registration.identity import validate_person_id
from spor.registration.localtime import to_iso
from spor.registration.time_order import is_acute, readings_of_row, second_occurrences
from spor.registration.variable_list import Variable, all_variables, by_column

__all__ = [
    "KVA_PATTERN",
    "code_as_sent",
    "PLANNING_END",
    "PLANNING_START",
    "planning_columns",
    "LIST_COLUMNS",
    "ZXF99",
    "HeaderVariables",
    "TreatmentParts",
    "header_variables",
    "read_treatment",
]

#: KVÅ: 2 letters + 3 digits or 3 letters + 2 digits. Stricter than the XSD's \w (no digits, '_'
#: or lower case in letter positions); Å, Ä, Ö are accepted because the XSD accepts them.
KVA_PATTERN = re.compile(r"^(?:[A-ZÅÄÖ]{2}[0-9]{3}|[A-ZÅÄÖ]{3}[0-9]{2})$")
ZXF99 = "ZXF99"
CANCELLATION_COLUMNS = ("v440", "v445", "v450")
PLANNING_START = ("v415", "v420")
PLANNING_END = ("v425", "v430")
_LEVEL1 = re.compile(r"^(1[01]|[1-9])$")
_LEVEL2_PREFIX = re.compile(r"^((1[01]|[1-9])[a-zA-Z])")

LIST_COLUMNS = tuple(v.column for v in all_variables() if v.is_list and v.column)
KVA_COLUMNS = tuple(v.column for v in all_variables() if v.type == "kva-list" and v.column)
OPERATION_CODE_COLUMNS = ("preliminar_operationskod", "operationskod")


def planning_columns() -> tuple[str, ...]:
    """The source columns of the planning (V410-V435, without the strykning): one of them recorded
    means the unit planned the operation; R8 leaves them all out of a cancelled request."""
    return tuple(v.column for v in all_variables() if v.part == "planering" and v.column)


@dataclass(frozen=True)
class TreatmentParts:
    """What the registration of one treatment says, checked, as texts ready for the message."""

    behandlingsnummer: str
    system_id: str
    person_id: str  # 12 digits
    values: dict[Variable, list[str]]  # recorded scalar body variables, converted
    lists: dict[str, list[str]]  # list column → codes, in order (ZXF99 added by D10)
    planned: bool  # R9/D4: minimum planning present
    cancellation: str | None  # R10: 'planned' | 'requested' | None (no strykning)
    removed_from_waiting_list: bool | None  # V450 when cancelled
    adjustments: tuple[str, ...]  # rules that changed what is sent: 'D13', 'D10', 'R8', 'duplicate-code'


@dataclass(frozen=True)
class HeaderVariables:
    """The variables that are not read as plain values of the row."""

    recipient: Variable  # V105, from the code list (R20)
    system_id: Variable  # from the unit mapping
    behandlingsnummer: Variable
    personnummer: Variable


@lru_cache(maxsize=1)
def header_variables() -> HeaderVariables:
    header = [v for v in all_variables() if v.part == "header"]
    recipient = next(v for v in header if v.number == "105")
    system_id = next(v for v in header if v is not recipient)
    return HeaderVariables(recipient, system_id, by_column("behandlingsnummer"), by_column("personnummer"))


@dataclass(frozen=True)
class _ReadingPlan:
    scalars: tuple[tuple[Variable, Callable[[Any], str]], ...]  # body variables from the row
    mandatory: tuple[Variable, ...]
    cancellation: tuple[Variable, Variable, Variable]  # V440, V445, V450
    planning_start: tuple[Variable, ...]
    planning_end: tuple[Variable, ...]


@lru_cache(maxsize=1)
def _reading_plan() -> _ReadingPlan:
    h = header_variables()
    special = {h.recipient, h.system_id, h.behandlingsnummer, h.personnummer}
    body = tuple(v for v in all_variables() if v.part != "header")
    v440, v445, v450 = CANCELLATION_COLUMNS
    scalars = []
    for v in body:
        if v in special or v.is_list:
            continue
        if v.type not in CONVERTERS:
            raise ValueError(f"variables.csv: no converter for type {v.type!r} ({v.label})")
        scalars.append((v, CONVERTERS[v.type]))
    return _ReadingPlan(
        scalars=tuple(scalars),
        mandatory=tuple(v for v in body if v.mandatory == "yes" and v not in special),
        cancellation=(by_column(v440), by_column(v445), by_column(v450)),
        planning_start=tuple(by_column(c) for c in PLANNING_START),
        planning_end=tuple(by_column(c) for c in PLANNING_END),
    )


def _identity(bnr: str, value: Any) -> str:
    if is_missing(value):
        raise IdentityUnknown(bnr, "personnummer", "D15", "identity number not recorded yet")
    text = as_text(value)
    if len(text) == 13 and text[8] in "-+":  # 'YYYYMMDD-NNNC' → 12 digits
        text = text[:8] + text[9:]
    reason = validate_person_id(text)
    if reason == "reservnummer":
        raise IdentityUnknown(bnr, "personnummer", "D15", "reservnummer: identity not yet known")
    if reason is not None:
        raise BuildError(bnr, "personnummer", "D15", f"invalid personnummer/samordningsnummer ({reason})")
    return text


def _cancellation_reason(bnr: str, v440: str, v445: str) -> tuple[str, bool]:
    """(level-2 reason to send, whether a level-3 reason was lifted to its parent). D13."""
    if v440 in codelists.never_sent_storningstyp():
        raise BuildError(bnr, "v440", "D13", f"cancellation type {v440} is never sent to SPOR")
    if not _LEVEL1.match(v440):
        raise BuildError(bnr, "v440", "D13", "cancellation type must be a level-1 code 1..11")
    level2, level3 = codelists.storningsorsak_patterns()
    lifted = False
    if not level2.match(v445):
        if not level3.match(v445):
            raise BuildError(bnr, "v445", "D13", "cancellation reason is not a level-2 (or local level-3) code")
        m = _LEVEL2_PREFIX.match(v445)
        assert m is not None
        v445, lifted = m.group(1), True
    level2_code = _LEVEL2_PREFIX.match(v445)
    assert level2_code is not None  # a level-2 code, or lifted to one above
    if level2_code.group(2) != v440:
        raise BuildError(bnr, "v445", "D13", "cancellation reason does not belong to the cancellation type")
    return v445, lifted


def code_as_sent(column: str, raw: Any) -> str:
    """A child-list code as the message carries it: KVÅ stripped and upper-cased (D17), ICD-10
    upper-cased, others stripped. Two codes are the same code when these texts are equal."""
    if column in KVA_COLUMNS:
        return normalise_kva(raw)
    if column == "diagnos":
        return as_text(raw).upper()
    return as_text(raw)


def _codes(bnr: str, column: str, values: Sequence[Any] | None) -> tuple[list[str], bool]:
    """The list's codes in order, each once (duplicate-code), and whether a repeat was dropped."""
    if not values:
        return [], False
    if isinstance(values, str):  # a single code given as a string, not a list of characters
        values = [values]
    out: list[str] = []
    repeated = False
    for raw in values:
        if is_missing(raw):
            continue
        code = code_as_sent(column, raw)
        if column in KVA_COLUMNS and not KVA_PATTERN.match(code):
            raise BuildError(bnr, column, "D17", "not a KVÅ code (2 letters + 3 digits or 3 letters + 2 digits)")
        if code in out:  # the OPS holds it twice: SPOR gets it once, the gate warns
            repeated = True
            continue
        out.append(code)
    return out, repeated


def read_treatment(
    row: Mapping[str, Any],
    children: Mapping[str, Sequence[str]] | None,
    system_id: str | None,
) -> TreatmentParts:
    """Check and convert one treatment; the arguments are those of ``build_registration``."""
    plan = _reading_plan()
    children = children or {}
    get = row.get

    raw_bnr = get("behandlingsnummer")
    if is_missing(raw_bnr):
        raise BuildError("?", "behandlingsnummer", "mandatory", "behandlingsnummer not recorded")
    bnr = as_text(raw_bnr)

    if system_id is None or is_missing(system_id):
        raise BuildError(bnr, "system_id", "unit-mapping", "the treatment's unit has no SystemId mapping")
    try:
        sid = hsa_id(system_id)
    except ValueRejected as f:
        raise BuildError(bnr, "system_id", f.rule, f.reason) from None

    person = _identity(bnr, get("personnummer"))

    # times in the repeated autumn hour: the second occurrence where the order says so (ADR 0001)
    second = second_occurrences(readings_of_row(row), elective=not is_acute(get("akut")))

    # scalar variables of the body, converted; absent = not recorded (R12)
    values: dict[Variable, list[str]] = {}
    for var, convert in plan.scalars:
        raw = get(var.column) if var.column is not None else None
        if is_missing(raw):
            continue
        try:
            values[var] = [to_iso(raw, second_occurrence=True) if var.column in second else convert(raw)]
        except ValueRejected as f:
            raise BuildError(bnr, var.column or var.label, f.rule, f"{var.label}: {f.reason}") from None
    for var in plan.mandatory:
        if var not in values:
            raise BuildError(bnr, var.column or var.label, "mandatory", f"{var.label} ({var.name_sv}) not recorded")

    adjustments: list[str] = []
    # cancellation: all of V440/V445/V450 or none (D5); reasons as level 1 + level 2 (D13)
    v440, v445, v450 = plan.cancellation
    present = [v for v in plan.cancellation if v in values]
    cancelled = bool(present)
    removed: bool | None = None
    if cancelled:
        if len(present) < 3:
            missing = [v for v in plan.cancellation if v not in values]
            labels = ", ".join(v.label for v in missing)
            raise BuildError(bnr, missing[0].column or missing[0].label, "D5",
                             f"cancellation incomplete: {labels} missing (V440, V445, V450 all needed)")
        reason, lifted = _cancellation_reason(bnr, values[v440][0], values[v445][0])
        if lifted:
            values[v445] = [reason]
            adjustments.append("D13")
        removed = values[v450][0] == "true"

    # code lists from the child views
    lists: dict[str, list[str]] = {}
    for col in LIST_COLUMNS:
        lists[col], repeated = _codes(bnr, col, children.get(col))
        if repeated and "duplicate-code" not in adjustments:
            adjustments.append("duplicate-code")
    if not any(lists[c] for c in OPERATION_CODE_COLUMNS):
        if cancelled:
            lists["preliminar_operationskod"] = [ZXF99]  # D10
            adjustments.append("D10")
        else:
            raise BuildError(bnr, "operationskod", "D11", "no operation code (preliminary or performed)")

    # planning (R9/D4) and the meaning of a cancellation (R10)
    planned = any(v in values for v in plan.planning_start) and any(v in values for v in plan.planning_end)
    cancellation = ("planned" if planned else "requested") if cancelled else None
    if cancelled and not planned:  # R8: only the three strykning variables inside planering
        dropped = [v for v in values if v.part == "planering"]
        for v in dropped:
            del values[v]
        if dropped:
            adjustments.append("R8")

    return TreatmentParts(
        behandlingsnummer=bnr,
        system_id=sid,
        person_id=person,
        values=values,
        lists=lists,
        planned=planned,
        cancellation=cancellation,
        removed_from_waiting_list=removed,
        adjustments=tuple(adjustments),
    )
