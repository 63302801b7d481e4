"""Parallel batches on one SQLite state DB (issue 3 acceptance, engineering note 17): 4 worker
processes send different batches over real mutual TLS to the stand-in; none fails with
"database is locked" and no registration goes over the wire twice (the stand-in's received folder)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter

import sqlalchemy as sa

from spor.clock import SimulatedClock
from spor.state import batches, outbox
from spor.state import database as statedb
from spor.state.tables import ledger as ledger_t
from tests.spor.send.test_crash_recovery import WORKER, build
from tests.spor.state_fixtures import NIGHT


def test_four_processes_send_different_batches_on_one_sqlite_db(tmp_path, standin_factory, standin_pki, monkeypatch):
    clock = SimulatedClock(start=NIGHT)
    monkeypatch.setenv("SPOR_CLOCK_START", NIGHT.isoformat())
    monkeypatch.setenv("SPOR_CLOCK_ANCHOR", repr(clock.anchor))
    url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    db = statedb.connect(url, clock=clock)
    nrs = [str(8000 + i) for i in range(200)]
    outbox.stage(db, "r1", "stage", [build(nr) for nr in nrs])
    planned = batches.plan(db, "r1", "stage", 50, 10)
    assert len(planned) == 4
    server = standin_factory(latency_ms=5)

    procs = [subprocess.Popen([sys.executable, str(WORKER), url, "-", str(b), server.url, str(standin_pki.dir), "4"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())
             for b in planned]
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (_out, err) in zip(procs, outputs):
        assert "database is locked" not in err.decode()
        assert p.returncode == 0, err.decode()[-3000:]

    received = Counter(e["behandlingsnummer"] for e in server.received.index())
    assert set(received) == set(nrs) and max(received.values()) == 1   # none sent twice
    with db.read() as conn:
        rows = conn.execute(sa.select(ledger_t.c.behandlingsnummer, ledger_t.c.outcome)).all()
    assert sorted(r[0] for r in rows) == sorted(nrs) and {r[1] for r in rows} == {"created"}
    assert outbox.size(db, "stage") == 0
