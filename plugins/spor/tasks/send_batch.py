"""The send task, mapped once per planned batch: send the batch to SPOR in pool ``spor`` within
the run's sending window, after a last look at the block list."""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from spor.state import runlog
from spor.tasks import ids
from spor.tasks.context import recorded
from spor.tasks.runinfo import RunInfo, sending_window

if TYPE_CHECKING:
    from spor.clock import Clock
    from spor.extract.source import SourceReader
    from spor.hooks.spor import SporHook
    from spor.lineage.report import TaskLineage
    from spor.settings import Settings
    from spor.state.database import StateDB

log = logging.getLogger("spor")


def _block_check(reader: SourceReader) -> Callable[[list[str]], set[str]]:
    """Re-reads the block list and the treatments' current identity and flag just before a batch
    is sent (R11). A treatment no longer in the OPS is not sent either."""
    from spor.extract import optout

    def check(numbers: list[str]) -> set[str]:
        block_list = optout.read_block_list(reader)
        present: set[str] = set()
        blocked: set[str] = set()
        for page in reader.by_numbers(numbers):
            _allowed, out = optout.apply(page, block_list)
            blocked.update(b for b, _ in out)
            present.update(str(t.behandlingsnummer) for t in page)
        return blocked | (set(numbers) - present)

    return check


@recorded(ids.SEND_BATCH)
def send_batch(batch: dict[str, Any], *, run: RunInfo, db: StateDB, settings: Settings, clock: Clock,
               reader: SourceReader, hook: SporHook, environment: str, context: MutableMapping[str, Any],
               run_finished: Callable[[str, str], bool], lineage: TaskLineage) -> dict[str, Any]:
    """Sends one batch to SPOR over mutual TLS, in pool `spor`, with `threads_per_task` threads
    sharing one client. Re-reads the block list first and withdraws what became blocked. Before
    every send and every retry it checks the window: never after the deadline (spor_nightly),
    never 05:15–06:00 (every run); what is left waits in the outbox with the reason. A rejected
    certificate or a systemic error stops the whole run."""
    from spor.send import batch as sending

    context["batch_label"] = f"batch {batch['batch']}"
    stop = runlog.stopped(db, run.run_id)
    window = sending_window(run, settings, datetime.fromisoformat(batch["window_from"]))
    from spor.state import batches

    if stop:
        # Another batch stopped the run: send nothing; the rows go back to the outbox, waiting.
        released = batches.finish(db, int(batch["batch_id"]))
        log.error("not sending batch %s: the run was stopped (%s); its %d registration(s) wait in the outbox",
                  batch["batch"], stop, released)
        return {"batch": batch["batch"], "skipped": "run stopped"}
    from spor.send import cause, takeover, timeouts
    from spor.send.breaker import BreakerPolicy

    client = timeouts.client_for(hook, db, environment, pool_size=settings.threads_per_task)
    bid = int(batch["batch_id"])
    spor_down = _spor_unavailable(db, run.run_id)
    def send(b: int) -> Any:
        return sending.send_planned_batch(b, db=db, client=client, clock=clock, window=window,
                                          block_check=_block_check(reader), threads=settings.threads_per_task,
                                          spor_down=spor_down)

    results = takeover.send_with_takeover(bid, environment, send, db=db, run_finished=run_finished)
    results += _after_probes(db, run, environment, bid, send, results[-1].stopped)
    counts = _sum([r.as_dict() for r in results])
    why = cause.of_batch(counts["stopped"], counts["waiting_by_reason"], attempted=counts["attempted"],
                         last_failure=counts["last_failure"], endpoint=_endpoint(hook),
                         give_up_after_s=BreakerPolicy().give_up_after_s)
    if why:
        cause.record(db, run.run_id, ids.SEND_BATCH, why)
    if counts["stopped"] == "unavailable":
        waiting = sum(counts["waiting_by_reason"].values())
        runlog.add(db, run.run_id, ids.SEND_BATCH, runlog.INFO,
                   f"SPOR unavailable: batch {batch['batch']} stopped with its circuit breaker open; "
                   f"{waiting} registration(s) wait (transient)", {"spor_unavailable": True, "batch": batch["batch"]})
    if counts["attempted"]:
        _sent_to_spor(context, lineage, hook, environment, batch["batch"], counts)
    log.log(logging.ERROR if why else logging.INFO, "%s", in_words(batch["batch"], counts, why))
    return {"batch": batch["batch"], **counts}


#: Why a batch stopped early, in words (BatchResult.stopped).
STOPPED_WORDS = {"unavailable": "SPOR unavailable (circuit breaker gave up)", "deadline": "the 05:00 deadline",
                 "blackout": "the 05:15-06:00 pause", "taken_over": "another run took its rows over"}


def in_words(number: int, counts: dict[str, Any], why: str | None) -> str:
    """The batch's last log line: what went out, what came back, what waits, and why."""
    answers = ", ".join(f"{state} {n}" for state, n in sorted(counts["by_state"].items()) if n) or "none"
    waiting = sum(counts["waiting_by_reason"].values())
    line = f"batch {number}: {counts['attempted']} request(s) sent; SPOR's answers: {answers}"
    if counts["withdrawn"]:
        line += f"; {counts['withdrawn']} withdrawn (blocked since staging)"
    if waiting:
        line += "; " + ", ".join(f"{n} wait ({r})" for r, n in sorted(counts["waiting_by_reason"].items()) if n)
    if counts["stopped"]:
        line += f"; stopped: {STOPPED_WORDS.get(counts['stopped'], counts['stopped'])}"
    return line + (f". Cause: {why}" if why else ".")


def _after_probes(db: StateDB, run: RunInfo, environment: str, bid: int, send: Callable[[int], Any],
                  stopped: str | None) -> list[Any]:
    """A unit's probe answered in this run (spor.state.probes): when SPOR knew its SystemId the
    registrations behind it join this batch and are sent now; when not, they leave the outbox
    for the next night."""
    from spor.state import probes

    results: list[Any] = []
    while not stopped:
        moved, outcomes = probes.follow_up(db, run.run_id, environment, into=bid, task=ids.SEND_BATCH)
        for o in outcomes:
            log.log(logging.INFO if o.known else logging.WARNING, "%s", o.in_words())
        if not moved:
            break
        results.append(send(bid))
        stopped = results[-1].stopped
    return results


def _endpoint(hook: SporHook) -> str | None:
    try:
        return str(hook.get_config().endpoint)
    except Exception:  # noqa: BLE001 - the cause is still told, without where
        return None


def _sent_to_spor(context: MutableMapping[str, Any], lineage: TaskLineage, hook: SporHook, environment: str,
                  number: int, counts: dict[str, Any]) -> None:
    """The SPOR Asset of this environment gets an event ("sent to SPOR": DAGs scheduled on it
    run) through the task's alias, and is this task's lineage output. Counts only in its extra."""
    from airflow.sdk import AssetAlias

    from spor.lineage.assets import SENT_TO_SPOR, create_spor_asset

    try:
        asset = create_spor_asset(endpoint=hook.get_config().endpoint, environment=environment)
    except Exception as exc:  # noqa: BLE001 - the batch was sent; only its announcement is lost
        log.warning("no 'sent to SPOR' asset event (%s: %s)", type(exc).__name__, exc)
        return
    lineage.sends_to(asset)
    events = context.get("outlet_events")
    if events is not None:  # Airflow's accessor; a unit test's context has none
        events[AssetAlias(SENT_TO_SPOR)].add(asset, extra={
            "environment": environment, "batch": number, "attempted": counts["attempted"],
            "by_state": counts["by_state"]})


def _spor_unavailable(db: StateDB, run_id: str) -> bool:
    """An earlier batch of this run found SPOR unavailable (its breaker gave up)."""
    return any((e.data or {}).get("spor_unavailable") for e in runlog.events(db, run_id, runlog.INFO))


def _sum(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The counts of a batch sent in one or more rounds (later rounds: rows taken over)."""
    out: dict[str, Any] = {"attempted": 0, "by_state": {}, "waiting_by_reason": {}, "withdrawn": 0,
                 "stopped": parts[-1]["stopped"], "rounds": len(parts), "breaker": [],
                 "last_failure": next((p["last_failure"] for p in reversed(parts) if p.get("last_failure")), None)}
    for p in parts:
        out["attempted"] += p["attempted"]
        out["withdrawn"] += p["withdrawn"]
        out["breaker"] += p["breaker"]
        for key in ("by_state", "waiting_by_reason"):
            for k, v in p[key].items():
                out[key][k] = out[key].get(k, 0) + v
    return out
