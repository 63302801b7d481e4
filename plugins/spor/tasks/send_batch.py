"""The send task, mapped once per planned batch: send the batch to SPOR in pool ``spor`` within
the run's sending window, after a last look at the block list."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Callable

from spor.state import runlog
from spor.tasks.context import TaskEnv, recorded

log = logging.getLogger("spor")


def _block_check(env: TaskEnv) -> Callable[[list[str]], set[str]]:
    """Re-reads the block list and the treatments' current identity and flag just before a batch
    is sent (R11). A treatment no longer in the OPS is not sent either."""
    from spor.extract import optout

    def check(numbers: list[str]) -> set[str]:
        block_list = optout.read_block_list(env.reader)
        present: set[str] = set()
        blocked: set[str] = set()
        for page in env.reader.by_numbers(numbers):
            _allowed, out = optout.apply(page, block_list)
            blocked.update(b for b, _ in out)
            present.update(str(t.behandlingsnummer) for t in page)
        return blocked | (set(numbers) - present)

    return check


@recorded("send_batch")
def send_batch(env: TaskEnv, batch: dict) -> dict:
    """Sends one batch to SPOR over mutual TLS, in pool `spor`, with `threads_per_task` threads
    sharing one client. Re-reads the block list first and withdraws what became blocked. Before
    every send and every retry it checks the window: never after the deadline (spor_nightly),
    never 05:15–06:00 (every run); what is left waits in the outbox with the reason. A rejected
    certificate or a systemic error stops the whole run."""
    from spor.send import batch as sending

    env.context["batch_label"] = f"batch {batch['batch']}"
    stop = runlog.stopped(env.db, env.run.run_id)
    window = env.sending_window(datetime.fromisoformat(batch["window_from"]))
    if stop:
        # Another batch stopped the run: send nothing, leave the rows waiting (released by the loop).
        log.error("not sending batch %s: the run was stopped (%s)", batch["batch"], stop)
        return {"batch": batch["batch"], "skipped": "run stopped"}
    client = env.hook.get_client(pool_size=env.settings.threads_per_task)
    result = sending.send_planned_batch(int(batch["batch_id"]), db=env.db, client=client, clock=env.clock,
                                        window=window, block_check=_block_check(env),
                                        threads=env.settings.threads_per_task)
    counts = result.as_dict()
    log.info("batch %s: %s", batch["batch"], counts)
    return {"batch": batch["batch"], **{k: counts[k] for k in ("attempted", "by_state", "waiting_by_reason", "withdrawn", "stopped")}}
