"""The plan-batches task: hand this run's outbox out in batches for the mapped sends, and say
whether the sending window is long enough for it."""

from __future__ import annotations

import logging

from spor.state import batches, outbox, runlog
from spor.tasks.context import TaskEnv, recorded
from spor.tasks.runinfo import NIGHTLY

log = logging.getLogger("spor")


@recorded("plan_batches")
def plan_batches(env: TaskEnv, staged: dict) -> list[dict]:
    """Assigns the waiting registrations of this environment to at most `batches_per_run` batches
    (each batch owns its rows; order: highest priority, then oldest waiting, then behandlingsnummer). Estimates from
    the outbox size, the recent latency and the concurrency whether the window is long enough,
    and says so. Returns one small descriptor per batch (numbers only) for the mapped sends."""
    from spor.lifecycle import WaitReason
    from spor.send import capacity, takeover

    ti = env.context["ti"]
    now = env.clock.now()
    # A scheduled night's deadline is the 05:00 after its scheduled time, even when it starts
    # late; a run started by hand counts from when it plans (ADR 0002).
    window_from = env.run.run_after if env.run.mode == NIGHTLY and env.run.run_after else now
    window = env.sending_window(window_from)
    opens = window.next_open(now)
    ti.xcom_push(key="window_opens_at", value=env.clock.real_instant(opens if opens else now).isoformat())
    if env.dry_run:
        log.info("dry run: nothing is planned or sent")
        return []
    s = env.settings
    environment = env.environment
    estimate = capacity.estimate_from_db(env.db, environment, pool_slots=s.pool_slots,
                                         threads_per_task=s.threads_per_task, now=opens or now, window=window)
    log.info("capacity: %s", estimate.as_dict())
    runlog.add(env.db, env.run.run_id, "plan_batches", runlog.CAPACITY, estimate.warning or "fits", estimate.as_dict())
    if estimate.warning:
        log.warning("%s", estimate.warning)
    if opens is None:
        reason = window.reason_blocked(now) or WaitReason.DEADLINE
        outbox.mark_unplanned_waiting(env.db, environment, reason)
        log.warning("nothing is sent: the window of this run has closed (%s); everything waits for the next run", reason.value)
        runlog.add(env.db, env.run.run_id, "plan_batches", runlog.INFO,
                   f"nothing sent: the sending window had closed ({reason.value}) when batches were planned")
        return []
    # A fixed number of batches per run (not per N registrations): task instances stay constant.
    batch_size = max(s.min_batch_size, -(-estimate.outbox_size // s.batches_per_run))
    # Rows a crashed run still holds: its owner on another host gets the lease to beat again.
    takeover.wait_for_unproven_owners(env.db, environment)
    batch_ids = batches.plan(env.db, env.run.run_id, environment, batch_size, s.batches_per_run,
                             dag_id=env.run.dag_id, run_finished=env.run_finished)
    log.info("planned %d batches of at most %d for %s", len(batch_ids), batch_size, environment)
    return [{"batch": n, "batch_id": bid, "window_from": window_from.isoformat()}
            for n, bid in enumerate(batch_ids, start=1)]
