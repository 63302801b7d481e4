"""Crash safety (issue 3 acceptance): SIGKILL the sending process in the middle of a batch sent
over real mutual TLS to the stand-in; after a rerun every registration of the batch is recorded
exactly once as accepted, none is lost. Also: Skapade then Uppdaterade, rejected not resent."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from spor.clock import SimulatedClock
from spor.send.batch import SystemicRule, send_planned_batch
from spor.send.windows import SendingWindow
from spor.state import attempts, batches, outbox
from spor.state.tables import ledger as ledger_t
from spor.state.tables import outbox as outbox_t
from spor.transport.client import SporClient
from standin.testing import KNOWN_SYSTEM_ID, hand_built_registration, spor_config
from tests.spor.state_fixtures import NIGHT

WORKER = Path(__file__).with_name("sending_worker.py")
MANUAL = SendingWindow.for_run(has_deadline=False, started_at=None)
ENV = "stage"


@dataclass(frozen=True)
class Built:
    """A hand-built registration (standin.testing) plus the content hash the ledger needs."""

    behandlingsnummer: str
    element: object
    xml_bytes: bytes
    system_id: str

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.xml_bytes).hexdigest()


def build(nr: str, kvakod: str = "ABC12", system_id: str = KNOWN_SYSTEM_ID) -> Built:
    h = hand_built_registration(nr, kvakod=kvakod, system_id=system_id)
    return Built(h.behandlingsnummer, h.element, h.xml_bytes, system_id)


@pytest.fixture
def night(monkeypatch) -> SimulatedClock:
    """Simulated night clock, shared with the worker processes through SPOR_CLOCK_*."""
    clock = SimulatedClock(start=NIGHT)
    monkeypatch.setenv("SPOR_CLOCK_START", NIGHT.isoformat())
    monkeypatch.setenv("SPOR_CLOCK_ANCHOR", repr(clock.anchor))
    return clock


def accepted_per_nr(db) -> dict[str, int]:
    with db.read() as conn:
        rows = conn.execute(sa.select(ledger_t.c.behandlingsnummer, sa.func.count())
                            .where(ledger_t.c.outcome.in_(["created", "updated"]))
                            .group_by(ledger_t.c.behandlingsnummer)).all()
    return {nr: n for nr, n in rows}


def worker_cmd(db, batch_id: int, server, pki, threads: int = 2) -> list[str]:
    url = db.engine.url.render_as_string(hide_password=False)
    return [sys.executable, str(WORKER), url, db.schema or "-", str(batch_id), server.url, str(pki.dir), str(threads)]


def test_skapade_then_uppdaterade_recorded(state_db, standin, standin_pki, night):
    db = state_db
    db.clock = night
    client = SporClient(spor_config(standin, standin_pki), pool_size=2)
    outbox.stage(db, "r1", ENV, [build("5001")])
    (bid,) = batches.plan(db, "r1", ENV, 10, 1)
    assert send_planned_batch(bid, db=db, client=client, clock=night, window=MANUAL, block_check=lambda b: set()).by_state == {"created": 1}
    outbox.stage(db, "r2", ENV, [build("5001", kvakod="ABC13")])   # changed content
    (bid,) = batches.plan(db, "r2", ENV, 10, 1)
    assert send_planned_batch(bid, db=db, client=client, clock=night, window=MANUAL, block_check=lambda b: set()).by_state == {"updated": 1}
    with db.read() as conn:
        texts = [r[0] for r in conn.execute(sa.select(ledger_t.c.result_text).order_by(ledger_t.c.id))]
    assert texts == ["Skapade: 5001", "Uppdaterade: 5001"]
    assert attempts.last_final_answer(db, ENV, KNOWN_SYSTEM_ID, "5001")[0] == "updated"


def test_rejected_unknown_system_id_not_resent_until_content_changes(state_db, standin, standin_pki, night):
    db = state_db
    db.clock = night
    client = SporClient(spor_config(standin, standin_pki), pool_size=2)
    bad = build("6001", system_id="SE13-137")
    outbox.stage(db, "r1", ENV, [bad])
    (bid,) = batches.plan(db, "r1", ENV, 10, 1)
    with pytest.raises(Exception, match="Configuration mismatch"):   # a run of one: systemic (all if fewer)
        send_planned_batch(bid, db=db, client=client, clock=night, window=MANUAL, block_check=lambda b: set(),
                           systemic=SystemicRule(first_k=20))
    assert attempts.last_final_answer(db, ENV, "SE13-137", "6001")[0] == "rejected"
    assert outbox.stage(db, "r2", ENV, [bad]).unchanged == 1
    assert outbox.stage(db, "r3", ENV, [build("6001", kvakod="ABC13", system_id="SE13-137")]).staged == 1


@pytest.mark.parametrize("rerun", ["task retry of the same batch", "next run re-plans the dead batch"])
def test_sigkill_mid_batch_then_rerun_records_each_exactly_once(state_db, standin_factory, standin_pki, night, rerun):
    db = state_db
    db.clock = night
    server = standin_factory(latency_ms=60)
    nrs = [str(7000 + i) for i in range(40)]
    outbox.stage(db, "r1", ENV, [build(nr) for nr in nrs])
    (bid,) = batches.plan(db, "r1", ENV, 100, 1)

    proc = subprocess.Popen(worker_cmd(db, bid, server, standin_pki), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=os.environ.copy())
    deadline = time.monotonic() + 60
    while len(server.received.index()) < 10:
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "worker sent nothing"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    sent_before = len(server.received.index())
    assert 10 <= sent_before < 40, "the kill must land mid-batch"
    assert outbox.size(db, ENV) > 0

    client = SporClient(spor_config(server, standin_pki), pool_size=2)
    if rerun.startswith("task retry"):
        result = send_planned_batch(bid, db=db, client=client, clock=night, window=MANUAL, block_check=lambda b: set())
    else:
        (new,) = batches.plan(db, "r2", ENV, 100, 1, lease=timedelta(0))   # the dead batch's lease is over
        result = send_planned_batch(new, db=db, client=client, clock=night, window=MANUAL, block_check=lambda b: set())
    assert result.waiting_by_reason == {}

    assert accepted_per_nr(db) == {nr: 1 for nr in nrs}         # each exactly once, none lost
    assert outbox.size(db, ENV) == 0
    received = [e["behandlingsnummer"] for e in server.received.index()]
    assert set(received) == set(nrs)
    with db.read() as conn:
        unanswered = {r[0] for r in conn.execute(sa.select(ledger_t.c.behandlingsnummer)
                                                 .where(ledger_t.c.outcome.is_(None)))}
    # Sent twice only where the crash fell between sending and recording (SPOR replaced them).
    twice = {nr for nr in nrs if received.count(nr) > 1}
    assert twice <= unanswered
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(outbox_t)).scalar() == 0
