"""Shared fixtures and helpers for the removal tests: a real SQLite OPS with the source contract
(treatments and block list), SPOR's acceptance recorded through the real ledger, the published
example identity numbers, and the check that a text carries no identity number."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from spor.extract.contract import apply_contract
from spor.extract.source import SourceReader
from spor.pii import PERSON_ID_PATTERN
from spor.state import attempts, batches, outbox
from tests.spor.state_fixtures import FakeRegistration, created

PATIENT = "197010632391"   # Skatteverket's published samordningsnummer example, not a person's
OTHER = "198803200016"     # the python-stdnum documentation example
PROD, STAGE = "production", "stage"
SID = "SE2321000032-1001"


class Ops:
    """A real SQLite OPS database with the source contract (treatments + block list)."""

    def __init__(self, path: Path):
        self.path = path
        apply_contract(f"sqlite:///{path}")
        self.reader = SourceReader.from_url(f"sqlite:///{path}")

    def sql(self, statement: str, *params) -> None:
        with sqlite3.connect(self.path) as conn:
            conn.execute(statement, params)

    def treatment(self, bnr: str, pnr: str, *, enhet: str = "ORT") -> None:
        self.sql("INSERT INTO spor_behandling (behandlingsnummer, enhet, personnummer, andrad_tid) "
                 "VALUES (?, ?, ?, '2025-03-01 10:00:00')", bnr, enhet, pnr)

    def block(self, id_: int, pnr: str, bnr: str | None = None, *, orsak: str = "patientens begäran",
              kanal: str = "brev från patienten", datum: str = "2025-03-02") -> None:
        self.sql("INSERT INTO spor_sparrlista (id, personnummer, behandlingsnummer, orsak, kanal, datum) "
                 "VALUES (?, ?, ?, ?, ?, ?)", id_, pnr, bnr, orsak, kanal, datum)



def accept(db, env: str, *bnrs: str, system_id: str = SID, answer=created, run_id: str = "night1") -> None:
    """Stage, send and record SPOR's answer through the real ledger (no client: answer recorded)."""
    outbox.stage(db, run_id, env, [FakeRegistration(b, system_id=system_id) for b in bnrs], force=True)
    for bid in batches.plan(db, run_id, env, 100, 100):
        batches.claim(db, bid)
        for reg in batches.owned_rows(db, bid):
            lid = attempts.record_attempt(db, reg, run_id=run_id, batch_id=bid)
            attempts.record_answer(db, lid, reg, answer(reg.behandlingsnummer))
        batches.finish(db, bid)


def no_identity(text: str) -> None:
    assert not PERSON_ID_PATTERN.search(text), f"identity number shape in: {PERSON_ID_PATTERN.search(text)}"
    assert PATIENT not in text and OTHER not in text
