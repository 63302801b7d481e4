"""Opt-out filter (R11, D20; docs/opt-out.md): applied right after extraction, before anything else.

A treatment is blocked when
- its patient has a whole-patient entry in ``spor_sparrlista`` (behandlingsnummer NULL), matched
  on the identity number normalised to 12 digits (``normalise_person_id``);
- its behandlingsnummer has an entry (matched on the number alone, whoever the entry names);
- its row carries ``deltar_ej = 1`` (the OPS's "patient does not take part").

Blocked treatments are dropped here: never checked, built, staged, sent or logged with data.
Fail closed: if the block list cannot be read, or an entry cannot be interpreted, reading it
raises ``BlockListUnavailable`` and nothing may be sent. Messages never hold identity numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from spor.errors import BlockListUnavailable

__all__ = [
    "SPARRLISTA_PATIENT",
    "SPARRLISTA_TREATMENT",
    "DELTAR_EJ",
    "BlockEntry",
    "BlockList",
    "apply",
    "normalise_person_id",
    "read_block_list",
]

SPARRLISTA_PATIENT = "sparrlista-patient"
SPARRLISTA_TREATMENT = "sparrlista-treatment"
DELTAR_EJ = "deltar-ej"


def normalise_person_id(value: Any, *, today: date | None = None) -> str | None:
    """The contract's normal form: 12 characters, no separator, upper case.

    ``YYYYMMDD-NNNC`` and ``YYYYMMDDNNNC`` give the 12 digits. A 10-digit ``YYMMDD-NNNC`` gets
    its century the Tax Agency's way ('-' = under 100 years old, '+' = 100 or older). Anything
    else (a reservnummer with letters, ...) is kept as written without separators, so that an
    entry for it still matches the same text in the OPS. None/blank gives None.
    """
    if value is None:
        return None
    text = "".join(str(value).split()).upper()
    if not text:
        return None
    plus = "+" in text
    compact = text.replace("-", "").replace("+", "")
    if len(compact) == 10 and compact.isdigit():
        today = today or date.today()
        yy = int(compact[:2])
        year = (today.year // 100) * 100 + yy
        if year > today.year:
            year -= 100
        if plus:
            year -= 100
        return f"{year // 100:02d}{compact}"
    return compact


@dataclass(frozen=True)
class BlockEntry:
    """One row of spor_sparrlista. The identity number is kept out of repr (logs)."""

    id: Any
    personnummer: str | None = field(repr=False)
    behandlingsnummer: str | None
    orsak: str | None
    kanal: str | None
    datum: str | None

    @property
    def whole_patient(self) -> bool:
        return self.behandlingsnummer is None


class _Reader(Protocol):
    def block_list_rows(self) -> list[dict[str, Any]]: ...


@dataclass
class BlockList:
    entries: list[BlockEntry]
    _patients: dict[str, BlockEntry] = field(default_factory=dict, repr=False)
    _treatments: dict[str, BlockEntry] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for e in self.entries:
            if e.behandlingsnummer is None:
                assert e.personnummer is not None  # read_block_list refuses such entries
                self._patients.setdefault(e.personnummer, e)
            else:
                self._treatments.setdefault(e.behandlingsnummer, e)

    def __repr__(self) -> str:
        return f"BlockList({len(self._patients)} patients, {len(self._treatments)} treatments)"

    def __len__(self) -> int:
        return len(self.entries)

    def match(self, personnummer: Any, behandlingsnummer: Any) -> BlockEntry | None:
        """The entry that blocks this treatment (treatment entries first), or None."""
        if behandlingsnummer is not None:
            entry = self._treatments.get(str(behandlingsnummer).strip())
            if entry is not None:
                return entry
        key = normalise_person_id(personnummer)
        return self._patients.get(key) if key else None

    def blocks(self, personnummer: Any, behandlingsnummer: Any) -> str | None:
        """'sparrlista-treatment', 'sparrlista-patient' or None."""
        entry = self.match(personnummer, behandlingsnummer)
        if entry is None:
            return None
        return SPARRLISTA_PATIENT if entry.whole_patient else SPARRLISTA_TREATMENT


def read_block_list(reader: _Reader) -> BlockList:
    """Read spor_sparrlista through ``reader`` (a spor.extract.source.SourceReader). Fail closed."""
    try:
        rows = reader.block_list_rows()
    except Exception as exc:  # noqa: BLE001 - any failure to read means: send nothing
        # The driver's message may quote SQL or values: name only its type (no chaining either).
        raise BlockListUnavailable(
            f"the opt-out block list (spor_sparrlista) could not be read ({type(exc).__name__}); nothing may be sent (R11)"
        ) from None
    entries: list[BlockEntry] = []
    for row in rows:
        bnr = row.get("behandlingsnummer")
        bnr = str(bnr).strip() if bnr is not None and str(bnr).strip() else None
        pnr = normalise_person_id(row.get("personnummer"))
        if bnr is None and pnr is None:
            raise BlockListUnavailable(
                f"block list entry id={row.get('id')} names neither a patient nor a treatment; "
                "fix the entry, nothing may be sent until then (R11)"
            )
        entries.append(BlockEntry(row.get("id"), pnr, bnr, row.get("orsak"), row.get("kanal"),
                                  None if row.get("datum") is None else str(row.get("datum"))))
    return BlockList(entries)


def _deltar_ej(row: Any) -> bool:
    value = row.get("deltar_ej")
    if value is None:
        return False
    if isinstance(value, str):  # fail closed: only a clear "no" lets the row through
        return value.strip().lower() not in ("0", "", "false", "f", "nej", "n", "no")
    return bool(value)


def apply(treatments: Iterable[Any], block_list: BlockList) -> tuple[list[Any], list[tuple[str, str]]]:
    """Split treatments (objects with .behandlingsnummer and .row) into allowed and blocked.

    Returns ``(allowed, [(behandlingsnummer, reason), ...])``; reason is 'sparrlista-treatment',
    'sparrlista-patient' or 'deltar-ej'. Blocked rows are not kept.
    """
    allowed: list[Any] = []
    blocked: list[tuple[str, str]] = []
    for t in treatments:
        bnr = str(t.behandlingsnummer)
        reason = block_list.blocks(t.row.get("personnummer"), bnr)
        if reason is None and _deltar_ej(t.row):
            reason = DELTAR_EJ
        if reason is None:
            allowed.append(t)
        else:
            blocked.append((bnr, reason))
    return allowed, blocked
