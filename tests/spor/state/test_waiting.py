"""One count of what waits (spor.state.waiting): rows no live run sends. A finished or stopped
run's batch that still holds rows does not hide them; a live run's open batch does (they are being
sent); a dead batch's rows wait. "night not done" counts the same."""

from __future__ import annotations

from spor.state import batches, night, outbox, waiting
from spor.state.batches import DEFAULT_LEASE
from spor.state.owner import Owner
from tests.spor.state_fixtures import regs

ENV = "stage"
ELSEWHERE = Owner(host="worker-elsewhere", pid=4242, started=None, pidns=None)


def test_never_planned_rows_wait_with_their_reason_and_first_numbers(state_db):
    outbox.stage(state_db, "r1", ENV, regs("1002", "1001", "1003"))
    found = waiting.resolve(state_db, ENV)
    assert (found.total, found.by_reason, found.being_sent) == (3, {"new": 3}, 0)
    assert found.first == {"new": ["1001", "1002", "1003"]}
    assert found.in_words() == "3 registration(s) of stage wait in the outbox (3 new)"


def test_a_live_runs_open_batch_is_being_sent_not_waiting(state_db):
    outbox.stage(state_db, "r1", ENV, regs("1001", "1002", "1003"))
    (bid,) = batches.plan(state_db, "r1", ENV, batch_size=2, max_batches=1)
    batches.claim(state_db, bid, owner=ELSEWHERE)
    found = waiting.resolve(state_db, ENV)
    assert (found.total, found.being_sent) == (1, 2)
    assert night.not_done(state_db, ENV).waiting == found.total


def test_rows_left_in_a_finished_batch_wait(state_db):
    """A stopped run whose batch was finished without giving its rows back (the demo's 2,757 vs 345)."""

    from spor.state.tables import batch

    outbox.stage(state_db, "r1", ENV, regs("1001", "1002"))
    (bid,) = batches.plan(state_db, "r1", ENV, batch_size=10, max_batches=1)
    with state_db.write() as conn:
        conn.execute(batch.update().where(batch.c.id == bid).values(finished_at=state_db.now()))
    assert waiting.resolve(state_db, ENV).total == 2 == night.not_done(state_db, ENV).waiting


def test_finish_run_gives_back_what_its_batches_hold(state_db):
    outbox.stage(state_db, "r1", ENV, regs(*[str(1000 + i) for i in range(5)]))
    batches.plan(state_db, "r1", ENV, batch_size=2, max_batches=3)
    assert waiting.resolve(state_db, ENV).total == 0          # planned: the run's to send
    assert batches.finish_run(state_db, "r1") == 5
    assert waiting.resolve(state_db, ENV).total == 5


def test_a_dead_batchs_rows_wait_and_say_so(state_db, clock):
    outbox.stage(state_db, "r1", ENV, regs("1001", "1002"))
    (bid,) = batches.plan(state_db, "r1", ENV, 10, 1)
    batches.claim(state_db, bid, owner=ELSEWHERE)
    clock.advance(seconds=DEFAULT_LEASE.total_seconds() + 1)
    found = waiting.resolve(state_db, ENV)
    assert (found.total, found.held_by_dead) == (2, 2)
    assert waiting.Waiting.from_dict(found.as_dict()) == found
