"""From one OPS treatment (a spor_behandling row + its child lists) to one SPOR registration.

``build_registration(row, children, system_id)`` reads the treatment into checked parts
(``spor.registration.reading``), writes them as the ``postRegistrationRequest`` element in the XSD's
order and validates it, and returns a ``Registration`` whose ``element`` is XSD-valid, or raises:
- ``IdentityUnknown`` (a BuildError): no personnummer/samordningsnummer yet (missing, or a
  reservnummer): held back until the OPS has the real number, never dropped;
- ``BuildError``: cannot be built; ``.variable`` is the source-contract column (e.g. 'v445',
  'operationskod', 'system_id'), ``.rule`` the rule id, ``.reason`` a short text. Never a
  personal value in any of them.

``BUILD_RULES`` lists the rules the builder enforces. Rules SPOR applies only *after* accepting
a message (``AFTER_ACCEPT_RULES``) are not checked here: the quality gate reports them and the
registration is still sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from spor.errors import BuildError
from spor.registration import codelists
from spor.registration.message import REGISTRATION_ELEMENT, ElementWriter, clark_names, content_hash, element_bytes, validate
from spor.registration.reading import TreatmentParts, header_variables, read_treatment
from spor.registration.variable_list import Variable, all_variables

if TYPE_CHECKING:
    from spor.registration.schema_files import LoadedSchema

__all__ = ["AFTER_ACCEPT_RULES", "BUILD_RULES", "Registration", "build_registration"]

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
    "duplicate-code": "a code the OPS lists twice in one list (after normalising) is sent once",
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
    adjustments: tuple[str, ...]  # rules that changed what is sent: 'D10', 'D13', 'R8', 'duplicate-code'
    namespace: str


@dataclass(frozen=True)
class _WritingPlan:
    names: dict[str, str]  # local name → Clark name in the schema's namespace
    body_order: tuple[tuple[Variable, tuple[str, ...]], ...]  # body variables + request-relative path, XSD order


@lru_cache(maxsize=8)
def _writing_plan(namespace: str) -> _WritingPlan:
    variables = all_variables()
    locals_ = {REGISTRATION_ELEMENT, "postRegistrationRequest"}
    for v in variables:
        locals_.update(v.path)
    return _WritingPlan(
        names=clark_names(namespace, locals_),
        body_order=tuple((v, (REGISTRATION_ELEMENT, *v.path)) for v in variables if v.part != "header"),
    )


def _add(out: ElementWriter, bnr: str, var: Variable, path: tuple[str, ...], texts: Sequence[str]) -> None:
    try:
        out.add(path, texts)
    except ValueError:  # lxml refuses control characters (e.g. NUL) in text
        raise BuildError(bnr, var.column or var.label, "type", f"{var.label}: holds characters XML cannot carry") from None


def _write(parts: TreatmentParts, plan: _WritingPlan, namespace: str) -> tuple[Any, bool]:
    """The request element in XSD order (the variable list's order), and whether anything was performed."""
    header = header_variables()
    bnr = parts.behandlingsnummer
    out = ElementWriter("postRegistrationRequest", plan.names, namespace)
    out.add(header.recipient.path, codelists.recipients())  # R20
    _add(out, bnr, header.system_id, header.system_id.path, (parts.system_id,))
    performed = False
    for var, path in plan.body_order:
        if var.is_list:
            texts: Sequence[str] | None = parts.lists.get(var.column or "")
        elif var is header.behandlingsnummer:
            texts = (bnr,)
        elif var is header.personnummer:
            texts = (parts.person_id,)
        else:
            texts = parts.values.get(var)
        if texts:
            _add(out, bnr, var, path, texts)
            if not performed and var.part == "genomforande":
                performed = True
    return out.root, performed


def build_registration(
    row: Mapping[str, Any],
    children: Mapping[str, Sequence[str]] | None,
    system_id: str | None,
    *,
    schema: LoadedSchema | None = None,
) -> Registration:
    """Build and XSD-validate the one complete registration of a treatment (R5).

    ``row``: spor_behandling columns (str/int/float/datetime/Timestamp/None/NaN; NaN, NaT, ''
    mean not recorded). ``children``: list column → codes in order (keys from LIST_COLUMNS;
    missing keys mean no codes). ``system_id``: the unit's SystemId from configuration, None when
    the unit has no mapping. ``schema``: a loaded schema (default: ``load_schema()``); the XML
    namespace comes from it.
    """
    if schema is None:
        from spor.registration.schema_files import load_schema

        schema = load_schema()
    plan = _writing_plan(schema.namespace)
    parts = read_treatment(row, children, system_id)
    root, performed = _write(parts, plan, schema.namespace)
    validate(root, schema, parts.behandlingsnummer)
    return Registration(
        behandlingsnummer=parts.behandlingsnummer,
        system_id=parts.system_id,
        element=root,
        xml_bytes=element_bytes(root),
        content_hash=content_hash(root),
        planned=parts.planned,
        cancellation=parts.cancellation,
        removed_from_waiting_list=parts.removed_from_waiting_list,
        performed=performed,
        adjustments=parts.adjustments,
        namespace=schema.namespace,
    )
