"""The SPOR variable list as data (plugins/spor/data/variables.csv), loaded once.

Code maps OPS columns to XML elements through this table instead of naming elements all over:
when the variable list or UCR's schema changes, the CSV changes, not the code.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from spor.resources import location

VARIABLES_CSV = location("data") / "variables.csv"

PARTS = ("header", "registration", "patient", "anmalan", "planering", "strykning", "genomforande", "postop")
LIST_TYPES = ("kva-list", "icd-list", "code-list")


@dataclass(frozen=True, eq=False)  # identity equality/hash: loaded once, used as dict keys in hot loops
class Variable:
    number: str | None  # SPOR V-number as text ('310'), None when SPOR publishes none
    column: str | None  # column in the source contract (spor_behandling or a child list key)
    name_sv: str
    name_en: str
    type: str  # datetime, date, boolean, code, text, personid, hsaid, decimal, kva-list, ...
    part: str  # one of PARTS
    xml_element: str  # path relative to the registration (header ones: relative to the request)
    mandatory: str  # 'yes', 'no', 'conditional'
    codelist: str | None
    mark: str  # 'C' confirmed, 'I' our inference (an assumption; see spor-domain.md)
    note: str

    @property
    def label(self) -> str:
        """How errors and reports name the variable: 'V310', else the column, else the name."""
        if self.number:
            return f"V{self.number}"
        return self.column or self.name_sv

    @property
    def is_list(self) -> bool:
        return self.type in LIST_TYPES  # cheap enough; Variable is frozen, so no cached_property

    @property
    def is_assumption(self) -> bool:
        return self.mark == "I"

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.xml_element.split("/"))

    @property
    def element(self) -> str:
        """Local name of the leaf element."""
        return self.path[-1]


@lru_cache(maxsize=8)
def load_variables(path: Path | str | None = None) -> tuple[Variable, ...]:
    """All variables in file order (which is also the XSD's element order)."""
    source = Path(path) if path else VARIABLES_CSV
    with source.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    out = []
    for r in rows:
        part = r["part"].strip()
        if part not in PARTS:
            raise ValueError(f"{source.name}: unknown part {part!r} for {r['name_sv']!r}")
        out.append(
            Variable(
                number=r["number"].strip() or None,
                column=r["column"].strip() or None,
                name_sv=r["name_sv"].strip(),
                name_en=r["name_en"].strip(),
                type=r["type"].strip(),
                part=part,
                xml_element=r["xml_element"].strip(),
                mandatory=r["mandatory"].strip(),
                codelist=r["codelist"].strip() or None,
                mark=r["mark"].strip(),
                note=r["note"].strip(),
            )
        )
    return tuple(out)


def all_variables() -> tuple[Variable, ...]:
    return load_variables()


@lru_cache(maxsize=1)
def _by_column() -> dict[str, Variable]:
    return {v.column: v for v in load_variables() if v.column}


@lru_cache(maxsize=1)
def _by_number() -> dict[str, Variable]:
    return {v.number: v for v in load_variables() if v.number}


def by_column(column: str) -> Variable:
    """The variable held in a source-contract column (KeyError if none)."""
    return _by_column()[column]


def by_number(number: str | int) -> Variable:
    """The variable with SPOR number ``number`` ('310' or 310; KeyError if none)."""
    return _by_number()[str(number)]


def by_label(label: str) -> Variable:
    """'V310' → by number; anything else → by column; 'SystemId' → the header variable."""
    if label.startswith("V") and label[1:].isdigit():
        return by_number(label[1:])
    for v in load_variables():
        if v.column == label or v.name_sv == label:
            return v
    raise KeyError(label)


def variables_in_part(part: str) -> tuple[Variable, ...]:
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; one of {PARTS}")
    return tuple(v for v in load_variables() if v.part == part)


def list_variables() -> tuple[Variable, ...]:
    """Variables that hold several codes (child views: KVÅ, diagnoses, complications)."""
    return tuple(v for v in load_variables() if v.is_list)


def behandling_columns() -> tuple[str, ...]:
    """Columns of spor_behandling that hold variables (list variables come from child views)."""
    return tuple(v.column for v in load_variables() if v.column and not v.is_list)


def mandatory_variables() -> tuple[Variable, ...]:
    return tuple(v for v in load_variables() if v.mandatory == "yes")
