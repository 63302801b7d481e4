"""The client's connect and read timeouts, chosen from the latency SPOR has shown.

Rule (docs/performance.md, "Timeouts"): with a recent 90th percentile answer time ``p90`` from
the ledger (last 7 days, answered attempts), the read timeout is ``max(5 s, 20 × p90)`` and the
connect timeout ``max(3 s, 10 × p90)``, each capped by what the SPOR connection configures
(defaults 60 s and 10 s, docs/connection.md). Without history the connection's values apply. A
hang then costs one thread one read timeout: the request is deferred like any transient failure,
and sending it again is safe (SPOR replaces by behandlingsnummer).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from spor.state.database import StateDB
    from spor.transport.client import SporClient
    from spor.transport.connection import SporConnectionConfig

READ_FLOOR_S = 5.0
READ_FACTOR = 20.0
CONNECT_FLOOR_S = 3.0
CONNECT_FACTOR = 10.0


class HasConnectionConfig(Protocol):
    """A SPOR hook, or anything else that knows the connection's configuration."""

    def get_config(self) -> SporConnectionConfig: ...


def choose(p90_s: float | None, *, connect_max: float, read_max: float) -> tuple[float, float]:
    """(connect, read) seconds for a recent p90 answer time (None: no history)."""
    if p90_s is None:
        return connect_max, read_max
    return (min(connect_max, max(CONNECT_FLOOR_S, CONNECT_FACTOR * p90_s)),
            min(read_max, max(READ_FLOOR_S, READ_FACTOR * p90_s)))


def client_for(hook: HasConnectionConfig, db: StateDB, environment: str, *, pool_size: int) -> SporClient:
    """The process's SPOR client for ``hook``'s connection, with timeouts from the latency the
    ledger measured for ``environment``."""
    from spor.state import attempts
    from spor.transport.client import get_client

    config = hook.get_config()
    latency = attempts.recent_latency(db, environment)
    connect, read = choose(latency.p90_s if latency else None, connect_max=config.connect_timeout,
                           read_max=config.read_timeout)
    return get_client(replace(config, connect_timeout=connect, read_timeout=read), pool_size=pool_size)
