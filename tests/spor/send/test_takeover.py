"""Crash takeover (docs/adr/0005-crash-takeover-heartbeat-lease.md): a batch whose owner is dead is taken over
within about a minute (at once when its process on this host is gone), a live batch is never
taken, not even while its circuit breaker holds every thread or a request hangs, and a night
with sendable rows that no live run owns is "not done" (spor.state.night)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from spor.clock import SimulatedClock
from spor.send.batch import send_planned_batch
from spor.send.breaker import BreakerPolicy
from spor.send.takeover import send_with_takeover
from spor.send.windows import SendingWindow
from spor.state import batches, night, outbox
from spor.state.owner import Owner, current
from tests.spor.state_fixtures import NIGHT, FakeRegistration, ScriptedClient, created, transient

ENV = "stage"
MANUAL = SendingWindow.for_run(has_deadline=False, started_at=None)


def staged(db, n: int, run_id: str = "dead-run") -> int:
    outbox.stage(db, run_id, ENV, [FakeRegistration(str(4000 + i)) for i in range(n)])
    (bid,) = batches.plan(db, run_id, ENV, 1000, 1)
    return bid


def gone_process() -> Owner:
    """An owner on this host whose process has exited (as after a SIGKILL)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    me = current()
    return Owner(host=me.host, pid=proc.pid, started=me.started, pidns=me.pidns)


def test_dead_owner_on_this_host_is_taken_over_at_once_by_the_next_run(state_db, clock):
    bid = staged(state_db, 6)
    batches.claim(state_db, bid, gone_process())
    assert night.not_done(state_db, ENV).owned_by_dead_batches == 6
    client = ScriptedClient(clock)
    (mine,) = batches.plan(state_db, "rerun", ENV, 1000, 1)
    res = send_planned_batch(mine, db=state_db, client=client, clock=clock, window=MANUAL, block_check=lambda b: set())
    assert res.by_state == {"created": 6}
    assert not night.not_done(state_db, ENV)


def test_a_send_task_takes_over_a_batch_that_dies_while_it_sends(state_db, clock):
    """The rerun's own batch is done first; then the dead run's rows move into it and go out."""
    dead = staged(state_db, 4)
    outbox.stage(state_db, "rerun", ENV, [FakeRegistration("5000")])
    mine = batches.plan(state_db, "rerun", ENV, 1000, 1)          # the other run's batch is alive yet
    assert batches.info(state_db, mine[0]).remaining == 1
    batches.claim(state_db, dead, gone_process())                 # ... then its sender is killed
    client = ScriptedClient(clock)
    results = send_with_takeover(mine[0], ENV, lambda b: send_planned_batch(
        b, db=state_db, client=client, clock=clock, window=MANUAL, block_check=lambda x: set()),
        db=state_db, sleep=lambda s: None)
    assert sum(r.by_state.get("created", 0) for r in results) == 5
    assert not night.not_done(state_db, ENV)


def test_other_host_owner_is_dead_only_after_the_lease(state_db, clock):
    bid = staged(state_db, 3)
    elsewhere = Owner(host="other-node", pid=4242, started=1.0, pidns="pid:[1]")
    batches.claim(state_db, bid, elsewhere)
    assert batches.dead_batches(state_db, ENV) == {}
    clock.advance(seconds=batches.DEFAULT_LEASE.total_seconds() + 1)
    assert list(batches.dead_batches(state_db, ENV)) == [bid]
    assert batches.DEFAULT_LEASE <= timedelta(minutes=1), "a dead batch is taken over within about a minute"


def test_airflow_is_believed_only_when_it_says_the_run_finished(state_db, clock):
    bid = staged(state_db, 2)
    batches.claim(state_db, bid, Owner(host="other-node", pid=1, started=1.0, pidns="x"))
    with state_db.write() as conn:
        from spor.state.tables import batch
        conn.execute(batch.update().where(batch.c.id == bid).values(dag_id="spor_nightly"))
    assert batches.dead_batches(state_db, ENV, run_finished=lambda d, r: False) == {}
    assert list(batches.dead_batches(state_db, ENV, run_finished=lambda d, r: True)) == [bid]


# The open breaker gives up only at its first probe, a minute later: the sender thread lives that long.
@pytest.mark.parametrize("stall", [pytest.param("circuit breaker open", marks=pytest.mark.slow), "request hanging"])
def test_a_live_batch_paused_or_waiting_on_a_hang_is_never_taken(state_db, stall):
    """The heartbeat thread beats while no answer arrives; a short lease never steals it."""
    clock = SimulatedClock(start=NIGHT)
    state_db.clock = clock
    bid = staged(state_db, 30 if stall.startswith("circuit") else 2)
    release = threading.Event()

    def hang(bn):
        release.wait(30)
        return created(bn)

    def down(bn):
        raise transient()

    client = ScriptedClient(clock, default=down if stall.startswith("circuit") else hang)
    policy = BreakerPolicy(window=10, min_answers=10, probe_after_s=60, give_up_after_s=3)
    beat, lease = timedelta(seconds=0.2), timedelta(seconds=0.6)
    sender = threading.Thread(target=send_planned_batch, kwargs=dict(
        batch_id=bid, db=state_db, client=client, clock=clock, window=MANUAL, block_check=lambda b: set(),
        threads=2, breaker=policy, beat=beat))
    sender.start()
    try:
        for _ in range(10):      # 2 s: more than three leases without a single answer
            time.sleep(0.2)
            # Judged as from another host: only the heartbeat speaks for it.
            assert batches.dead_batches(state_db, ENV, lease=lease) == {}
            assert batches.recover_stale(state_db, lease=lease, environment=ENV) == 0
        assert sender.is_alive(), "the batch was still being sent throughout"
        with state_db.read() as conn:
            from spor.state.tables import batch
            paused = conn.execute(sa.select(batch.c.paused_reason).where(batch.c.id == bid)).scalar()
        assert paused == ("circuit breaker open" if stall.startswith("circuit") else None)
    finally:
        release.set()
        sender.join(60)
