"""Will tonight's window be enough? An estimate from the outbox size, recent latency and concurrency.

Concurrency C = pool slots × threads per task (each mapped send task runs ``threads`` requests at
once over one shared client). Throughput ≈ C / latency × efficiency; efficiency 0.8 is what 8
threads against a 50 ms server reached on this machine (docs/notes.md#measured-floors).
The estimate carries counts and durations only, never personal data.

When the window is too short, the outbox is sent in its send order (spor.state.batches): higher
priority first, then oldest waiting first, then behandlingsnummer; the rest waits (DEADLINE).

What other runs hold (the open batches of a backfill or a resend) counts too when they send from
the same pool: their batches keep its slots until they are done, so this run's rows come after
them. A backfill or resend in a pool of its own (``[spor] backfill_pool``) is named but not counted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime

from spor.lifecycle import NIGHT_PRIORITY
from spor.send.windows import SendingWindow
from spor.state import attempts, batches
from spor.state.database import StateDB
from spor.state.documents import JsonObject

DEFAULT_LATENCY_S = 0.25      # used until the ledger has answers for this environment
DEFAULT_EFFICIENCY = 0.8


@dataclass(frozen=True)
class CapacityEstimate:
    outbox_size: int
    latency_s: float
    latency_source: str           # "ledger median (n=…)" or "default"
    concurrency: int
    throughput_per_s: float
    needed_s: float
    available_s: float
    closes_at: str                # ISO instant the window closes
    sendable: int                 # how many fit before the window closes
    fits: bool
    warning: str | None
    held_by_other_runs: int = 0   # rows open batches of other runs own, in this run's pool
    other_runs: list[str] = field(default_factory=list)  # those runs' ids (the pool's and any other)

    def as_dict(self) -> JsonObject:
        return asdict(self)


def estimate(*, outbox_size: int, latency_s: float, pool_slots: int, threads_per_task: int,
             now: datetime, window: SendingWindow, efficiency: float = DEFAULT_EFFICIENCY,
             latency_source: str = "given", ahead: Mapping[str, int] | None = None,
             beside: Mapping[str, int] | None = None) -> CapacityEstimate:
    """``outbox_size``: the rows this run will plan. ``ahead``: run id → rows other runs hold in
    this run's pool (sent before or beside this run's, so counted); ``beside``: the same for runs
    in another pool (named only)."""
    if pool_slots < 1 or threads_per_task < 1:
        raise ValueError("pool_slots and threads_per_task must be at least 1")
    ahead, beside = dict(ahead or {}), dict(beside or {})
    held = sum(ahead.values())
    latency_s = max(latency_s, 1e-3)
    concurrency = pool_slots * threads_per_task
    throughput = concurrency / latency_s * efficiency
    needed = (outbox_size + held) / throughput
    closes = window.closes_at(now)
    available = max(0.0, closes.timestamp() - now.timestamp())
    sendable = max(0, min(outbox_size, int(available * throughput) - held))
    fits = needed <= available
    warning = None
    if not fits:
        blocked = window.reason_blocked(now)
        why = (f"sending is blocked now ({blocked.value})" if blocked is not None
               else f"the window closes at {closes.astimezone(window.tz):%H:%M %Z} ({available / 60:.0f} min left)")
        warning = (f"Capacity: {outbox_size} registrations waiting need about {needed / 60:.0f} min at "
                   f"{throughput:.1f}/s (concurrency {concurrency} = {pool_slots} pool slots x "
                   f"{threads_per_task} threads, latency {latency_s * 1000:.0f} ms), but {why}. "
                   f"About {sendable} will be sent; the rest wait in the outbox (oldest first next time). "
                   f"Raise the 'spor' pool slots or threads per task.")
        if held:
            alone = outbox_size / throughput <= available
            warning += (f" {'Alone this run would fit: ' if alone else ''}{_named(ahead)} "
                        f"{'holds' if len(ahead) == 1 else 'hold'} {held} registrations in the same pool, sent "
                        f"first; give backfills and resends a pool of their own ([spor] backfill_pool).")
    return CapacityEstimate(outbox_size=outbox_size, latency_s=round(latency_s, 4), latency_source=latency_source,
                            concurrency=concurrency, throughput_per_s=round(throughput, 2),
                            needed_s=round(needed, 1), available_s=round(available, 1),
                            closes_at=closes.astimezone(window.tz).isoformat(), sendable=sendable, fits=fits, warning=warning,
                            held_by_other_runs=held, other_runs=sorted({*ahead, *beside}))


def _named(runs: Mapping[str, int]) -> str:
    return ("run " if len(runs) == 1 else "runs ") + ", ".join(sorted(runs))


def estimate_from_db(db: StateDB, environment: str, *, pool_slots: int, threads_per_task: int, now: datetime,
                     window: SendingWindow, default_latency_s: float = DEFAULT_LATENCY_S,
                     efficiency: float = DEFAULT_EFFICIENCY, dag_id: str = "", run_id: str = "",
                     pool_of: Callable[[str, str], str] | None = None,
                     priority: int = NIGHT_PRIORITY) -> CapacityEstimate:
    """Estimate for ``environment`` from the state database: the rows no batch owns yet that the
    run ``dag_id``/``run_id`` (staging ``priority``) will plan, what other runs' open batches hold, and the median latency of recent
    answers (the default when there are none). ``pool_of(dag_id, run_id)`` is a run's send pool:
    runs in this run's pool are counted ahead of it (without it: all of them)."""
    lat = attempts.recent_latency(db, environment)
    if lat is None:
        latency, source = default_latency_s, "default"
    else:
        latency, source = lat.median_s, f"ledger median (n={lat.samples})"
    ahead: dict[str, int] = {}
    beside: dict[str, int] = {}
    mine = pool_of(dag_id, run_id) if pool_of is not None else None
    for (dag_id, other), rows in batches.held_by_other_runs(db, environment, run_id).items():
        same = pool_of is None or pool_of(dag_id, other) == mine
        (ahead if same else beside)[other] = rows
    return estimate(outbox_size=batches.unplanned(db, environment, run_id, priority), latency_s=latency, pool_slots=pool_slots,
                    threads_per_task=threads_per_task, now=now, window=window, efficiency=efficiency,
                    latency_source=source, ahead=ahead, beside=beside)
