"""Send batches: each row owned by exactly one batch, the send order, dead batches re-planned
after their lease, unclaimed batches taken back when a run plans again."""

from __future__ import annotations

from spor.state import batches, outbox
from spor.state.batches import DEFAULT_LEASE
from spor.state.owner import Owner
from tests.spor.state_fixtures import regs

ENV = "stage"


def test_plan_batches_gives_each_row_to_exactly_one_batch(state_db):
    outbox.stage(state_db, "r1", ENV, regs(*[str(1000 + i) for i in range(25)]))
    ids = batches.plan(state_db, "r1", ENV, batch_size=10, max_batches=5)
    assert len(ids) == 3
    seen = [reg.behandlingsnummer for b in ids for reg in batches.owned_rows(state_db, b)]
    assert sorted(seen) == sorted(set(seen)) and len(seen) == 25
    # A concurrent run (e.g. a resend) finds nothing free to take.
    assert batches.plan(state_db, "other", ENV, 10, 5) == []


def test_send_order_is_oldest_waiting_first_then_behandlingsnummer(state_db, clock):
    """When not everything fits (max_batches), what waited longest goes first; ties by number."""
    outbox.stage(state_db, "r1", ENV, regs("3003", "3001"))           # waiting since 01:00
    clock.advance(days=1)
    outbox.stage(state_db, "r2", ENV, regs("1002", "1001", "2001"))   # a day younger
    ids = batches.plan(state_db, "r2", ENV, batch_size=2, max_batches=2)
    order = [reg.behandlingsnummer for b in ids for reg in batches.owned_rows(state_db, b)]
    assert order == ["3001", "3003", "1001", "1002"]
    assert outbox.size(state_db, ENV) == 5  # 2001 still waits, unassigned


def test_priority_goes_before_age(state_db, clock):
    outbox.stage(state_db, "r1", ENV, regs("1001"))
    clock.advance(hours=1)
    outbox.stage(state_db, "r2", ENV, regs("9009"), priority=10)
    (bid,) = batches.plan(state_db, "r2", ENV, 1, 1)
    assert [r.behandlingsnummer for r in batches.owned_rows(state_db, bid)] == ["9009"]


#: A sender on another machine: only its heartbeat can say it is alive.
ELSEWHERE = Owner(host="worker-elsewhere", pid=4242, started=None, pidns=None)


def test_rows_of_dead_batches_are_replanned_after_the_lease(state_db, clock):
    """A batch whose owner on another host stopped beating for a lease is taken over."""
    outbox.stage(state_db, "r1", ENV, regs("1001", "1002"))
    (bid,) = batches.plan(state_db, "r1", ENV, 10, 1)
    batches.claim(state_db, bid, owner=ELSEWHERE)
    assert batches.plan(state_db, "r2", ENV, 10, 1) == []          # owned by a live batch
    clock.advance(seconds=DEFAULT_LEASE.total_seconds() + 1)  # its worker died
    (new,) = batches.plan(state_db, "r2", ENV, 10, 1)
    assert sorted(r.behandlingsnummer for r in batches.owned_rows(state_db, new)) == ["1001", "1002"]
    assert batches.owned_rows(state_db, bid) == []


def test_replanning_the_same_run_takes_back_unclaimed_batches(state_db):
    outbox.stage(state_db, "r1", ENV, regs("1001", "1002", "1003"))
    first = batches.plan(state_db, "r1", ENV, 2, 5)
    second = batches.plan(state_db, "r1", ENV, 2, 5)  # the plan task was retried
    assert set(first).isdisjoint(second)
    assert sum(len(batches.owned_rows(state_db, b)) for b in second) == 3
