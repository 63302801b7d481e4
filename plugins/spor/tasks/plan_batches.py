"""The plan-batches task: hand this run's outbox out in batches for the mapped sends, and say
whether the sending window is long enough for it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from spor.state import batches, outbox, runlog
from spor.tasks import ids
from spor.tasks.context import TaskInstance, recorded
from spor.tasks.runinfo import NIGHTLY, RunInfo, send_pool, sending_window

if TYPE_CHECKING:
    from spor.clock import Clock
    from spor.settings import Settings
    from spor.state.database import StateDB

log = logging.getLogger("spor")


@recorded(ids.PLAN_BATCHES)
def plan_batches(staged: dict[str, Any], *, run: RunInfo, db: StateDB, settings: Settings, clock: Clock,
                 environment: str, ti: TaskInstance, run_finished: Callable[[str, str], bool]) -> list[dict[str, Any]]:
    """Assigns the waiting registrations of this environment to at most `batches_per_run` batches
    (each batch owns its rows; order: highest priority, then oldest waiting, then behandlingsnummer). Estimates from
    the outbox size, the recent latency and the concurrency whether the window is long enough,
    and says so. Returns one small descriptor per batch (numbers only) for the mapped sends."""
    from spor.lifecycle import WaitReason
    from spor.send import capacity, takeover

    now = clock.now()
    # A scheduled night's deadline is the 05:00 after its scheduled time, even when it starts
    # late; a run started by hand counts from when it plans (ADR 0002).
    window_from = run.run_after if run.mode == NIGHTLY and run.run_after else now
    window = sending_window(run, settings, window_from)
    opens = window.next_open(now)
    ti.xcom_push(key=ids.XCOM_WINDOW_OPENS_AT, value=clock.real_instant(opens if opens else now).isoformat())
    if run.dry_run:
        log.info("dry run: nothing is planned or sent")
        return []
    s = settings
    # Other runs' open batches count when they send from this run's pool (a backfill started
    # before the nightly holds its slots); a resend or backfill in a pool of its own does not.
    estimate = capacity.estimate_from_db(db, environment, pool_slots=s.pool_slots,
                                         threads_per_task=s.threads_per_task, now=opens or now, window=window,
                                         dag_id=run.dag_id, run_id=run.run_id, pool_of=send_pool,
                                         priority=run.priority)
    log.info("capacity: %s", estimate.as_dict())
    runlog.add(db, run.run_id, ids.PLAN_BATCHES, runlog.CAPACITY, estimate.warning or "fits", estimate.as_dict())
    if estimate.warning:
        log.warning("%s", estimate.warning)
    if opens is None:
        reason = window.reason_blocked(now) or WaitReason.DEADLINE
        outbox.mark_unplanned_waiting(db, environment, reason)
        log.warning("nothing is sent: the window of this run has closed (%s); everything waits for the next run", reason.value)
        runlog.add(db, run.run_id, ids.PLAN_BATCHES, runlog.INFO,
                   f"nothing sent: the sending window had closed ({reason.value}) when batches were planned")
        return []
    # A fixed number of batches per run (not per N registrations): task instances stay constant.
    # Sized by what this run plans, not by what other runs' batches hold.
    batch_size = max(s.min_batch_size, -(-estimate.outbox_size // s.batches_per_run))
    # Rows a crashed run still holds: its owner on another host gets the lease to beat again.
    takeover.wait_for_unproven_owners(db, environment)
    batch_ids = batches.plan(db, run.run_id, environment, batch_size, s.batches_per_run,
                             dag_id=run.dag_id, run_finished=run_finished, priority=run.priority)
    log.info("planned %d batches of at most %d for %s", len(batch_ids), batch_size, environment)
    return [{"batch": n, "batch_id": bid, "window_from": window_from.isoformat()}
            for n, bid in enumerate(batch_ids, start=1)]
