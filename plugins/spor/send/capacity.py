"""Will tonight's window be enough? An estimate from the outbox size, recent latency and concurrency.

Concurrency C = pool slots × threads per task (each mapped send task runs ``threads`` requests at
once over one shared client). Throughput ≈ C / latency × efficiency; efficiency 0.8 is what 8
threads against a 50 ms server reached on this machine (docs/notes.md#measured-floors).
The estimate carries counts and durations only, never personal data.

When the window is too short, the outbox is sent in its send order (spor.state.batches): higher
priority first, then oldest waiting first, then behandlingsnummer; the rest waits (DEADLINE).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from spor.send.windows import SendingWindow
from spor.state import attempts, outbox
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

    def as_dict(self) -> JsonObject:
        return asdict(self)


def estimate(*, outbox_size: int, latency_s: float, pool_slots: int, threads_per_task: int,
             now: datetime, window: SendingWindow, efficiency: float = DEFAULT_EFFICIENCY,
             latency_source: str = "given") -> CapacityEstimate:
    if pool_slots < 1 or threads_per_task < 1:
        raise ValueError("pool_slots and threads_per_task must be at least 1")
    latency_s = max(latency_s, 1e-3)
    concurrency = pool_slots * threads_per_task
    throughput = concurrency / latency_s * efficiency
    needed = outbox_size / throughput
    closes = window.closes_at(now)
    available = max(0.0, closes.timestamp() - now.timestamp())
    sendable = min(outbox_size, int(available * throughput))
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
    return CapacityEstimate(outbox_size=outbox_size, latency_s=round(latency_s, 4), latency_source=latency_source,
                            concurrency=concurrency, throughput_per_s=round(throughput, 2),
                            needed_s=round(needed, 1), available_s=round(available, 1),
                            closes_at=closes.astimezone(window.tz).isoformat(), sendable=sendable, fits=fits, warning=warning)


def estimate_from_db(db: StateDB, environment: str, *, pool_slots: int, threads_per_task: int, now: datetime,
                     window: SendingWindow, default_latency_s: float = DEFAULT_LATENCY_S,
                     efficiency: float = DEFAULT_EFFICIENCY) -> CapacityEstimate:
    """Estimate for ``environment`` from the state database: outbox size and the median latency of
    recent answers (the default when there are none)."""
    lat = attempts.recent_latency(db, environment)
    if lat is None:
        latency, source = default_latency_s, "default"
    else:
        latency, source = lat.median_s, f"ledger median (n={lat.samples})"
    return estimate(outbox_size=outbox.size(db, environment), latency_s=latency, pool_slots=pool_slots,
                    threads_per_task=threads_per_task, now=now, window=window, efficiency=efficiency,
                    latency_source=source)
