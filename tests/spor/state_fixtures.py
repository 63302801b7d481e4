"""Shared fixtures, TEST DOUBLES and helpers for the state-database, ledger and sending tests.

``state_db`` runs each test on SQLite (a file, WAL) and on PostgreSQL (a unique schema per test,
dropped afterwards). ``FakeRegistration`` / ``ScriptedClient`` are test doubles standing in for the
message module's Registration and spor.transport.client.SporClient in unit tests of the loop; integration
tests use the real client against the real stand-in.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa

from spor.clock import STOCKHOLM, FixedClock
from spor.errors import CertificateError, TransientError
from spor.lifecycle import State
from spor.state import attempts, batches
from spor.state import database as statedb

NIGHT = datetime(2025, 3, 3, 1, 0, tzinfo=STOCKHOLM)  # an ordinary Monday night, 01:00 local


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NIGHT)


@pytest.fixture(params=["sqlite", "postgresql"])
def state_db(request, tmp_path, clock):
    """A fresh, upgraded state database on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        db = statedb.connect(f"sqlite:///{tmp_path / 'state.sqlite'}", clock=clock)
        yield db
        db.dispose()
        return
    url = request.getfixturevalue("postgres_url")
    schema = f"spor_t_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    db = statedb.connect(url, clock=clock, schema=schema)
    try:
        yield db
    finally:
        db.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


# ---------------------------------------------------------------------------- test doubles
@dataclass
class FakeRegistration:
    """TEST DOUBLE of the message module's Registration (only what the ledger reads)."""

    behandlingsnummer: str
    content: str = "v1"
    system_id: str = "SE2321000032-1001"

    @property
    def xml_bytes(self) -> bytes:
        return (f"<registration><SystemId>{self.system_id}</SystemId>"
                f"<behandlingsnummer>{self.behandlingsnummer}</behandlingsnummer>"
                f"<c>{self.content}</c></registration>").encode()

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.xml_bytes).hexdigest()


@dataclass
class FakeAnswer:
    """TEST DOUBLE of spor.transport.answers.SporAnswer."""

    state: State
    result_code: str | None = "OK"
    result_text: str | None = None
    fault_type: str | None = None
    fault_rule: str | None = None
    http_status: int | None = 200
    elapsed_s: float = 0.05
    kind_from_text: bool = True


def created(bn: str) -> FakeAnswer:
    return FakeAnswer(State.CREATED, "OK", f"Skapade: {bn}")


def unknown_system(bn: str, system_id: str = "SE13-137") -> FakeAnswer:
    return FakeAnswer(State.REJECTED, "ERROR",
                      f"Systemet kunde inte ta emot registreringen: {bn} Systemet {system_id} som angivits i "
                      f"SystemId hittas inte")


def malformed(type_: str = "kvakod") -> FakeAnswer:
    return FakeAnswer(State.MALFORMED, None, "Unmarshalling Error", type_, "cvc-pattern-valid", 500)


@dataclass
class ScriptedClient:
    """TEST DOUBLE of spor.transport.client.SporClient: answers from a script, records when each request was
    made on the injected clock. ``script[bn]`` is a list consumed per call: FakeAnswer, an exception
    instance, or a callable(bn) -> FakeAnswer; ``default`` answers everything else."""

    clock: Any
    script: dict[str, list] = field(default_factory=dict)
    default: Any = created
    advance_s: float = 0.0   # each request takes this long on the (fixed) clock
    sent: list[tuple[str, datetime]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def post(self, registration: Any) -> FakeAnswer:
        bn = registration.behandlingsnummer
        with self.lock:
            self.sent.append((bn, self.clock.now()))
            steps = self.script.get(bn)
            step = steps.pop(0) if steps else self.default
            if self.advance_s:
                self.clock.advance(seconds=self.advance_s)
        if isinstance(step, BaseException):
            raise step
        return step(bn) if callable(step) else step


def transient() -> TransientError:
    return TransientError("HTTP 503 Service Unavailable")


def cert_rejected() -> CertificateError:
    return CertificateError("client certificate rejected by the server (check certificate, key, CA, expiry)")


# ---------------------------------------------------------------------------- helpers
def regs(*bns: str, content: str = "v1") -> list[FakeRegistration]:
    return [FakeRegistration(bn, content) for bn in bns]


def send_all(db: statedb.StateDB, run_id: str, env: str, answer=created) -> None:
    """Send everything waiting (no client: record the answer directly)."""
    for bid in batches.plan(db, run_id, env, 100, 100):
        batches.claim(db, bid)
        for reg in batches.owned_rows(db, bid):
            lid = attempts.record_attempt(db, reg, run_id=run_id, batch_id=bid)
            attempts.record_answer(db, lid, reg, answer(reg.behandlingsnummer))
        batches.finish(db, bid)
