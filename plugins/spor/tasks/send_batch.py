"""The send task, mapped once per planned batch: send the batch to SPOR in pool ``spor`` within
the run's sending window, after a last look at the block list."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

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
    from spor.send import takeover, timeouts

    client = timeouts.client_for(env, pool_size=env.settings.threads_per_task)
    bid = int(batch["batch_id"])
    spor_down = _spor_unavailable(env)
    results = takeover.send_with_takeover(
        bid, env.environment, lambda b: sending.send_planned_batch(
            b, db=env.db, client=client, clock=env.clock, window=window, block_check=_block_check(env),
            threads=env.settings.threads_per_task, spor_down=spor_down),
        db=env.db, run_finished=env.run_finished)
    counts = _sum([r.as_dict() for r in results])
    if counts["stopped"] == "unavailable":
        waiting = sum(counts["waiting_by_reason"].values())
        runlog.add(env.db, env.run.run_id, "send_batch", runlog.INFO,
                   f"SPOR unavailable: batch {batch['batch']} stopped with its circuit breaker open; "
                   f"{waiting} registration(s) wait (transient)", {"spor_unavailable": True, "batch": batch["batch"]})
    log.info("batch %s: %s", batch["batch"], counts)
    return {"batch": batch["batch"], **counts}


def _spor_unavailable(env: TaskEnv) -> bool:
    """An earlier batch of this run found SPOR unavailable (its breaker gave up)."""
    return any((e.data or {}).get("spor_unavailable") for e in runlog.events(env.db, env.run.run_id, runlog.INFO))


def _sum(parts: list[dict]) -> dict:
    """The counts of a batch sent in one or more rounds (later rounds: rows taken over)."""
    out: dict = {"attempted": 0, "by_state": {}, "waiting_by_reason": {}, "withdrawn": 0,
                 "stopped": parts[-1]["stopped"], "rounds": len(parts), "breaker": []}
    for p in parts:
        out["attempted"] += p["attempted"]
        out["withdrawn"] += p["withdrawn"]
        out["breaker"] += p["breaker"]
        for key in ("by_state", "waiting_by_reason"):
            for k, v in p[key].items():
                out[key][k] = out[key].get(k, 0) + v
    return out
