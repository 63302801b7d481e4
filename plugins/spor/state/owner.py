"""Who owns a batch, and whether that owner is still alive (docs/adr/0005-crash-takeover-heartbeat-lease.md).

An owner is the process sending the batch: host name, pid, the process's start time (a pid is
reused after the process dies) and its pid namespace (two containers may share a host name and a
pid). When the owner ran on this host in this pid namespace, its liveness is a fact: the process
exists with the same start time, or it does not. Elsewhere, liveness is the heartbeat: a batch
whose heartbeat is older than the lease is dead. Airflow's word is taken only when it says the
owner's run has finished or failed (after a SIGKILL it may say "running" for minutes).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Protocol

#: A start time read twice may differ by rounding; a reused pid starts seconds or more later.
_START_TOLERANCE_S = 1.0


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    started: float | None
    pidns: str | None
    worker: str | None = None

    def columns(self) -> dict[str, str | int | float | None]:
        return dict(owner_host=self.host, owner_pid=self.pid, owner_started=self.started,
                    owner_pidns=self.pidns, owner_worker=self.worker)


def _process_start(pid: int) -> float | None:
    try:
        import psutil

        return float(psutil.Process(pid).create_time())
    except Exception:  # noqa: BLE001 - no such process, or no psutil: unknown
        return None


@lru_cache(maxsize=1)
def _pid_namespace() -> str | None:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def _celery_worker_name() -> str | None:
    """The Celery worker's node name when this process runs under one (cheap: no broker call)."""
    name = os.environ.get("SPOR_WORKER_NAME")
    if name:
        return name
    import sys

    if "celery" not in sys.modules:
        return None
    try:
        from celery import current_task

        return getattr(getattr(current_task, "request", None), "hostname", None)
    except Exception:  # noqa: BLE001 - not inside a Celery task
        return None


def current() -> Owner:
    """This process as a batch owner."""
    pid = os.getpid()
    return Owner(host=socket.gethostname(), pid=pid, started=_process_start(pid), pidns=_pid_namespace(),
                 worker=_celery_worker_name())


class OwnedBatch(Protocol):
    """The ``owner_*`` and ``heartbeat_at`` columns of a ``spor_batch`` row."""

    @property
    def owner_host(self) -> str | None: ...
    @property
    def owner_pid(self) -> int | None: ...
    @property
    def owner_started(self) -> float | None: ...
    @property
    def owner_pidns(self) -> str | None: ...
    @property
    def heartbeat_at(self) -> datetime: ...


def verdict(row: OwnedBatch, now: datetime, lease: timedelta) -> tuple[bool, str]:
    """(alive, why) for an open, claimed batch row with ``owner_*`` and ``heartbeat_at`` columns."""
    me = current()
    if (row.owner_pid and row.owner_host == me.host and row.owner_pidns and row.owner_pidns == me.pidns):
        started = _process_start(int(row.owner_pid))
        if started is None:
            return False, f"owner process {row.owner_pid} on {row.owner_host} is gone"
        if row.owner_started is not None and abs(started - float(row.owner_started)) > _START_TOLERANCE_S:
            return False, f"owner process {row.owner_pid} on {row.owner_host} is gone (pid reused)"
        return True, f"owner process {row.owner_pid} on {row.owner_host} is running"
    age = now - row.heartbeat_at
    if age > lease:
        return False, f"no heartbeat for {age.total_seconds():.0f} s (lease {lease.total_seconds():.0f} s)"
    return True, f"heartbeat {age.total_seconds():.0f} s ago"
