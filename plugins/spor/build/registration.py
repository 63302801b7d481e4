"""From one OPS treatment (a spor_behandling row + its child lists) to one SPOR registration.

``build_registration(row, children, system_id)`` applies the rules in ``BUILD_RULES`` and returns
a ``Registration`` whose ``element`` is XSD-valid, or raises:
- ``IdentityUnknown`` (a BuildError): no personnummer/samordningsnummer yet (missing, or a
  reservnummer): held back until the OPS has the real number, never dropped;
- ``BuildError``: cannot be built; ``.variable`` is the source-contract column (e.g. 'v445',
  'operationskod', 'system_id'), ``.rule`` the rule id, ``.reason`` a short text. Never a
  personal value in any of them.

Rules SPOR applies only *after* accepting a message (``AFTER_ACCEPT_RULES``) are not checked
here: the quality gate reports them and the registration is still sent.

Variables are mapped through the variable list (``spor.build.variable_list``): a new variable or another
element name is a change to ``data/variables.csv``, not to this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from spor.build import codelists
from spor.errors import BuildError, IdentityUnknown
from spor.build.identity import validate_person_id
from spor.build.localtime import WallClockError, to_iso, to_iso_date
from spor.build.message import REGISTRATION_ELEMENT, ElementWriter, clark_names, content_hash, element_bytes, validate
from spor.build.variable_list import Variable, all_variables, by_column

if TYPE_CHECKING:
    from spor.build.schema_files import LoadedSchema

__all__ = [
    "AFTER_ACCEPT_RULES",
    "BUILD_RULES",
    "KVA_PATTERN",
    "LIST_COLUMNS",
    "ZXF99",
    "Registration",
    "build_registration",
    "is_missing",
    "normalise_kva",
]

#: Rule ids the builder enforces, and what enforcing means here.
BUILD_RULES: dict[str, str] = {
    "R5": "the whole registration every time: every recorded variable is sent, every send",
    "R7": "a request alone is sent without a planering part (no empty parts at all)",
    "R8": "a cancelled request that was never planned (R9 not met) sends planering with strykning only",
    "R9": "minimum planning (V415|V420) & (V425|V430) decides Registration.planned (D4)",
    "R10": "meaning of a cancellation: Registration.cancellation = 'planned' | 'requested' (SPOR derives it)",
    "R12": "no empty element: '', blanks, None, NaN, NaT are 'not recorded' and left out",
    "R13": "times as ISO 8601 with the Europe/Stockholm offset in force (ADR 0001); bad time → not buildable",
    "R15": "HSA-IDs (SystemId, operator) match two letters, digits, '-', rest; at most 64 characters",
    "R20": "V105 Recipient Message Split = the code list's recipients (today only 'SPOR')",
    "D5": "a cancellation carries all of V440, V445, V450, or it is not buildable",
    "D10": "a cancellation without any operation code gets preliminary code ZXF99",
    "D11": "no operation code at all (and not a cancellation): not buildable",
    "D13": "level-3 reason sent as its level-2 parent; type 12 or a malformed reason: not buildable",
    "D15": "personnummer/samordningsnummer valid (R14): malformed → not buildable; missing or reservnummer → IdentityUnknown",
    "D17": "KVÅ codes normalised (strip, upper case) and checked with KVA_PATTERN",
    "mandatory": "variables marked mandatory 'yes' in variables.csv (V310, akut) must be recorded",
    "unit-mapping": "the unit must map to a SystemId (configuration)",
    "type": "booleans, decimals and codes must have the variable's type",
    "XSD": "the message validates against the loaded XSD before it can leave",
}
#: Rules SPOR applies after accepting a message: the quality gate reports them; they never stop a build.
AFTER_ACCEPT_RULES: dict[str, str] = {
    "D1": "V570 >= V565", "D2": "V565 >= V310", "D3": "V567 >= V565", "D9": "late cancellation after 17:00",
    "D21": "temporal order of the times", "D22": "no negative waiting time",
}

#: KVÅ: 2 letters + 3 digits or 3 letters + 2 digits. Stricter than the XSD's \w (no digits, '_'
#: or lower case in letter positions); Å, Ä, Ö are accepted because the XSD accepts them.
KVA_PATTERN = re.compile(r"^(?:[A-ZÅÄÖ]{2}[0-9]{3}|[A-ZÅÄÖ]{3}[0-9]{2})$")
#: R15 in the form we accept: two letters, digits, '-', then any non-space characters.
HSA_PATTERN = re.compile(r"^[A-Za-z]{2}[0-9]+-\S*$")
HSA_MAX = 64
ZXF99 = "ZXF99"
CANCELLATION_COLUMNS = ("v440", "v445", "v450")
PLANNING_START = ("v415", "v420")
PLANNING_END = ("v425", "v430")
_LEVEL1 = re.compile(r"^(1[01]|[1-9])$")
_LEVEL2_PREFIX = re.compile(r"^((1[01]|[1-9])[a-zA-Z])")
_TRUE = {"1", "true", "t", "ja", "j", "yes", "y"}
_FALSE = {"0", "false", "f", "nej", "n", "no"}


def _list_columns() -> tuple[str, ...]:
    return tuple(v.column for v in all_variables() if v.is_list and v.column)


LIST_COLUMNS = _list_columns()
KVA_COLUMNS = tuple(v.column for v in all_variables() if v.type == "kva-list" and v.column)
OPERATION_CODE_COLUMNS = ("preliminar_operationskod", "operationskod")


@dataclass(frozen=True)
class Registration:
    behandlingsnummer: str
    system_id: str
    element: Any  # lxml element postRegistrationRequest: goes into the SOAP body unchanged
    xml_bytes: bytes  # that element serialised, UTF-8, no declaration
    content_hash: str  # sha256 hex over the element's C14N form (message.content_hash)
    planned: bool  # R9/D4: minimum planning present
    cancellation: str | None  # R10: 'planned' | 'requested' | None (no strykning)
    removed_from_waiting_list: bool | None  # V450 when cancelled
    performed: bool  # any genomförande variable recorded
    adjustments: tuple[str, ...]  # rules that changed what is sent: 'D10', 'D13', 'R8'
    namespace: str


# --- values -----------------------------------------------------------------------------------
def is_missing(value: Any) -> bool:
    """Not recorded: None, NaN, NaT, pandas NA, '' or only blanks (R12)."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, float):
        return value != value
    if type(value).__name__ in ("NaTType", "NAType"):
        return True
    if isinstance(value, (int, datetime)):
        return False
    try:
        return bool(value != value)
    except (TypeError, ValueError):
        return False


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 3000001.0 from a numeric column → '3000001'
    return str(value).strip()


def normalise_kva(code: Any) -> str:
    """Strip and upper-case a KVÅ code (D17); does not check it."""
    return _text(code).upper()


class _Fail(Exception):
    """Internal: a value that does not fit its variable; turned into BuildError with the column."""

    def __init__(self, rule: str, reason: str):
        self.rule, self.reason = rule, reason


def _datetime(value: Any) -> str:
    try:
        return to_iso(value)
    except WallClockError as exc:
        raise _Fail("R13", str(exc)) from None


def _date(value: Any) -> str:
    try:
        return to_iso_date(value)
    except WallClockError as exc:
        raise _Fail("R13", str(exc)) from None


def _boolean(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = _text(value).lower()
    if text in _TRUE:
        return "true"
    if text in _FALSE:
        return "false"
    raise _Fail("type", "not a yes/no value")


def _decimal(value: Any) -> str:
    try:
        number = float(_text(value).replace(",", ".")) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise _Fail("type", "not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise _Fail("type", "not a number")
    return f"{number:.2f}".rstrip("0").rstrip(".")


def _hsaid(value: Any) -> str:
    text = _text(value)
    if len(text) > HSA_MAX or not HSA_PATTERN.match(text):
        raise _Fail("R15", f"not an HSA-ID (two letters, digits, '-', rest; at most {HSA_MAX} characters)")
    return text


_CONVERTERS: dict[str, Callable[[Any], str]] = {
    "datetime": _datetime,
    "date": _date,
    "boolean": _boolean,
    "decimal": _decimal,
    "hsaid": _hsaid,
    "code": _text,
    "text": _text,
}


# --- the plan: per schema namespace, precomputed once -------------------------------------------
@dataclass(frozen=True)
class _Plan:
    names: dict[str, str]
    recipient: Variable
    system_id: Variable
    behandlingsnummer: Variable
    personnummer: Variable
    scalars: tuple[tuple[Variable, Callable[[Any], str]], ...]  # body variables from the row
    mandatory: tuple[Variable, ...]
    body_order: tuple[tuple[Variable, tuple[str, ...]], ...]  # body variables + request-relative path, XSD order
    cancellation: tuple[Variable, Variable, Variable]  # V440, V445, V450
    planning_start: tuple[Variable, ...]
    planning_end: tuple[Variable, ...]


@lru_cache(maxsize=8)
def _plan(namespace: str) -> _Plan:
    variables = all_variables()
    header = [v for v in variables if v.part == "header"]
    recipient = next(v for v in header if v.number == "105")
    system_id = next(v for v in header if v is not recipient)
    behandlingsnummer = by_column("behandlingsnummer")
    personnummer = by_column("personnummer")
    special = {recipient, system_id, behandlingsnummer, personnummer}
    body = tuple(v for v in variables if v.part != "header")
    scalars = []
    for v in body:
        if v in special or v.is_list:
            continue
        if v.type not in _CONVERTERS:
            raise ValueError(f"variables.csv: no converter for type {v.type!r} ({v.label})")
        scalars.append((v, _CONVERTERS[v.type]))
    locals_ = {REGISTRATION_ELEMENT, "postRegistrationRequest"}
    for v in variables:
        locals_.update(v.path)
    return _Plan(
        names=clark_names(namespace, locals_),
        recipient=recipient,
        system_id=system_id,
        behandlingsnummer=behandlingsnummer,
        personnummer=personnummer,
        scalars=tuple(scalars),
        mandatory=tuple(v for v in body if v.mandatory == "yes" and v not in special),
        body_order=tuple((v, (REGISTRATION_ELEMENT, *v.path)) for v in body),
        cancellation=tuple(by_column(c) for c in CANCELLATION_COLUMNS),  # type: ignore[arg-type]
        planning_start=tuple(by_column(c) for c in PLANNING_START),
        planning_end=tuple(by_column(c) for c in PLANNING_END),
    )


# --- the rules ----------------------------------------------------------------------------------
def _identity(bnr: str, value: Any) -> str:
    if is_missing(value):
        raise IdentityUnknown(bnr, "personnummer", "D15", "identity number not recorded yet")
    text = _text(value)
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
    if _LEVEL2_PREFIX.match(v445).group(2) != v440:  # type: ignore[union-attr]
        raise BuildError(bnr, "v445", "D13", "cancellation reason does not belong to the cancellation type")
    return v445, lifted


def _codes(bnr: str, column: str, values: Sequence[Any] | None) -> list[str]:
    if not values:
        return []
    if isinstance(values, str):  # a single code given as a string, not a list of characters
        values = [values]
    out = []
    for raw in values:
        if is_missing(raw):
            continue
        if column in KVA_COLUMNS:
            code = normalise_kva(raw)
            if not KVA_PATTERN.match(code):
                raise BuildError(bnr, column, "D17", "not a KVÅ code (2 letters + 3 digits or 3 letters + 2 digits)")
        elif column == "diagnos":
            code = _text(raw).upper()
        else:
            code = _text(raw)
        out.append(code)
    return out


def _add(out: ElementWriter, bnr: str, var: Variable, path: tuple[str, ...], texts: Sequence[str]) -> None:
    try:
        out.add(path, texts)
    except ValueError:  # lxml refuses control characters (e.g. NUL) in text
        raise BuildError(bnr, var.column or var.label, "type", f"{var.label}: holds characters XML cannot carry") from None


def build_registration(
    row: Mapping[str, Any],
    children: Mapping[str, Sequence[str]] | None,
    system_id: str | None,
    *,
    schema: "LoadedSchema | None" = None,
) -> Registration:
    """Build and XSD-validate the one complete registration of a treatment (R5).

    ``row``: spor_behandling columns (str/int/float/datetime/Timestamp/None/NaN; NaN, NaT, ''
    mean not recorded). ``children``: list column → codes in order (keys from LIST_COLUMNS;
    missing keys mean no codes). ``system_id``: the unit's SystemId from configuration, None when
    the unit has no mapping. ``schema``: a loaded schema (default: ``load_schema()``); the XML
    namespace comes from it.
    """
    if schema is None:
        from spor.build.schema_files import load_schema

        schema = load_schema()
    plan = _plan(schema.namespace)
    children = children or {}
    get = row.get

    raw_bnr = get("behandlingsnummer")
    if is_missing(raw_bnr):
        raise BuildError("?", "behandlingsnummer", "mandatory", "behandlingsnummer not recorded")
    bnr = _text(raw_bnr)

    if system_id is None or is_missing(system_id):
        raise BuildError(bnr, "system_id", "unit-mapping", "the treatment's unit has no SystemId mapping")
    try:
        sid = _hsaid(system_id)
    except _Fail as f:
        raise BuildError(bnr, "system_id", f.rule, f.reason) from None

    person = _identity(bnr, get("personnummer"))

    # scalar variables of the body, converted; absent = not recorded (R12)
    values: dict[Variable, list[str]] = {}
    for var, convert in plan.scalars:
        raw = get(var.column)
        if is_missing(raw):
            continue
        try:
            values[var] = [convert(raw)]
        except _Fail as f:
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
    lists: dict[str, list[str]] = {col: _codes(bnr, col, children.get(col)) for col in LIST_COLUMNS}
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

    # write the message in XSD order (the variable list's order)
    names = plan.names
    out = ElementWriter("postRegistrationRequest", names, schema.namespace)
    out.add(plan.recipient.path, codelists.recipients())  # R20
    _add(out, bnr, plan.system_id, plan.system_id.path, (sid,))
    performed = False
    for var, path in plan.body_order:
        if var.is_list:
            texts: Sequence[str] | None = lists.get(var.column or "")
        elif var is plan.behandlingsnummer:
            texts = (bnr,)
        elif var is plan.personnummer:
            texts = (person,)
        else:
            texts = values.get(var)
        if texts:
            _add(out, bnr, var, path, texts)
            if not performed and var.part == "genomforande":
                performed = True
    root = out.root

    validate(root, schema, bnr)
    return Registration(
        behandlingsnummer=bnr,
        system_id=sid,
        element=root,
        xml_bytes=element_bytes(root),
        content_hash=content_hash(root),
        planned=planned,
        cancellation=cancellation,
        removed_from_waiting_list=removed,
        performed=performed,
        adjustments=tuple(adjustments),
        namespace=schema.namespace,
    )
