"""Which accepted registrations call for a removal request: the ones a block list entry covers,
and the ones deleted in the OPS after SPOR accepted them ("sent by mistake"). Nothing is written.

*Accepted* means a created/updated answer in the ledger or as SPOR's last final answer, per
environment; a later rejected update does not undo it. Treatment entries match on the number.
Whole-patient entries need the patient's identity, which the state database does not keep (data
minimisation; a hash of a 12-digit number could be reversed by trying every number): it is read
from the OPS (``reader.by_numbers`` over the accepted treatment numbers), which also tells which
accepted treatments are gone from the OPS.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa

from spor.extract.optout import BlockEntry, BlockList, read_block_list
from spor.lifecycle import ACCEPTED
from spor.removal.model import (
    CAUSE_DELETED,
    CAUSE_SPARRLISTA,
    DELETED_CHANNEL,
    DELETED_REASON,
    SCOPE_PATIENT,
    SCOPE_TREATMENT,
    RequestGroup,
    number_key,
)
from spor.removal.store import numbers_with_requests
from spor.removal.text import clean_free_text
from spor.state.database import StateDB
from spor.state.tables import last_final, ledger

__all__ = ["DELETED_MAX", "DELETED_MAX_SHARE", "Accepted", "OpsReader", "accepted_registrations",
           "find_removals", "group_for_entry"]

#: More treatments than this (and than DELETED_MAX_SHARE of those checked) missing from the OPS in
#: one run looks like a broken OPS view, not deletions: nothing is raised for them, the run says so.
DELETED_MAX = 20
DELETED_MAX_SHARE = 0.01


class OpsReader(Protocol):
    """What matching reads from the OPS (spor.extract.source.SourceReader has both)."""

    def block_list_rows(self) -> list[dict[str, Any]]: ...
    def by_numbers(self, numbers: Iterable[str]) -> Iterator[list[Any]]: ...


@dataclass(frozen=True)
class Accepted:
    environment: str
    system_id: str
    behandlingsnummer: str


def accepted_registrations(db: StateDB, environment: str | None) -> list[Accepted]:
    """Every (environment, SystemId, behandlingsnummer) SPOR ever accepted: a created/updated answer
    in the ledger or as the last final answer. A later rejected update does not undo an acceptance."""
    states = [s.value for s in ACCEPTED]
    q1 = sa.select(ledger.c.environment, ledger.c.system_id, ledger.c.behandlingsnummer).where(
        ledger.c.outcome.in_(states))
    q2 = sa.select(last_final.c.environment, last_final.c.system_id, last_final.c.behandlingsnummer).where(
        last_final.c.state.in_(states))
    if environment:
        q1 = q1.where(ledger.c.environment == environment)
        q2 = q2.where(last_final.c.environment == environment)
    with db.read() as conn:
        rows = {tuple(r) for r in conn.execute(sa.union(q1, q2))}
    return [Accepted(*r) for r in sorted(rows)]


def group_for_entry(entry: BlockEntry, environment: str) -> RequestGroup:
    """The request one block entry calls for in one environment (no items yet)."""
    return RequestGroup(CAUSE_SPARRLISTA, str(entry.id), environment,
                        SCOPE_PATIENT if entry.whole_patient else SCOPE_TREATMENT,
                        clean_free_text(entry.orsak), clean_free_text(entry.kanal), clean_free_text(entry.datum))


def find_removals(db: StateDB, reader_or_block_list: OpsReader | BlockList, *, environment: str | None = None,
                  check_deleted: bool = True, today: str) -> tuple[list[RequestGroup], int, int, list[str]]:
    """The request groups the ledger and the block list call for now (nothing written).

    Returns (groups, accepted registrations checked, suspected deletions held back, notes)."""
    if isinstance(reader_or_block_list, BlockList):
        block_list, reader = reader_or_block_list, None  # treatment entries only: no identity, no deletions
    else:
        reader = reader_or_block_list
        block_list = read_block_list(reader)  # BlockListUnavailable: fail closed, raise nothing half-read
    accepted = accepted_registrations(db, environment)
    groups: dict[tuple[str, str, str], RequestGroup] = {}

    def cover(entry: BlockEntry, acc: Accepted) -> None:
        key = (CAUSE_SPARRLISTA, str(entry.id), acc.environment)
        group = groups.get(key) or groups.setdefault(key, group_for_entry(entry, acc.environment))
        group.items.add((acc.system_id, acc.behandlingsnummer))

    by_number: dict[str, list[Accepted]] = defaultdict(list)
    for acc in accepted:
        by_number[acc.behandlingsnummer].append(acc)
        entry = block_list.match(None, acc.behandlingsnummer)  # treatment entries: the number suffices
        if entry is not None:
            cover(entry, acc)
    has_patient_entries = any(e.whole_patient for e in block_list.entries)
    missing: list[Accepted] = []
    if reader is not None and by_number and (has_patient_entries or check_deleted):
        present: set[str] = set()
        for page in reader.by_numbers(list(by_number)):
            for t in page:
                bnr = str(t.behandlingsnummer)
                present.add(bnr)
                if has_patient_entries:
                    entry = block_list.match(t.row.get("personnummer"), None)  # whole-patient entry only
                    if entry is not None:
                        for acc in by_number[bnr]:
                            cover(entry, acc)
        if check_deleted:
            covered = {(g.environment, bnr) for g in groups.values() for _sid, bnr in g.items}
            missing = [a for bnr in sorted(set(by_number) - present, key=number_key) for a in by_number[bnr]
                       if (a.environment, bnr) not in covered]
    suspect = 0
    notes: list[str] = []
    if missing:
        # already in a request (of any cause) for that environment: nothing new
        known = numbers_with_requests(db, (a.behandlingsnummer for a in missing))
        new = [a for a in missing if (a.environment, a.behandlingsnummer) not in known]
        limit = max(DELETED_MAX, int(DELETED_MAX_SHARE * len(accepted)))
        if len(new) > limit:
            suspect = len(new)
            notes.append(f"{suspect} treatments SPOR accepted are missing from the OPS: more than {limit}, so "
                         "this looks like a broken OPS view rather than deletions; no removal request was raised "
                         "for them (check the spor_ops connection; see docs/opt-out.md)")
        else:
            for a in new:
                key = (CAUSE_DELETED, a.behandlingsnummer, a.environment)
                group = groups.setdefault(key, RequestGroup(CAUSE_DELETED, a.behandlingsnummer, a.environment,
                                                            SCOPE_TREATMENT, DELETED_REASON, DELETED_CHANNEL, today))
                group.items.add((a.system_id, a.behandlingsnummer))
    return list(groups.values()), len(accepted), suspect, notes
