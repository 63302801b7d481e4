"""Differences between the Airflow versions the package runs on, one small function each."""

from __future__ import annotations

from typing import Any


def airflow_stats() -> Any:
    """Airflow's metrics object (StatsD, Datadog or OpenTelemetry, as ``[metrics]`` configures it),
    with ``incr``, ``gauge`` and ``timing``.

    The task-sdk's, not the core's: a task process initializes only the task-sdk's. Airflow 3.3
    made ``airflow.sdk.observability.stats`` a module of functions (its ``Stats`` class is a shim
    kept for old callers); in 3.2 that module holds the ``Stats`` class itself. ``airflow.stats``
    is a deprecated alias in both (it warns on import)."""
    from airflow.sdk.observability import stats

    if callable(getattr(stats, "incr", None)):  # 3.3: the module's functions
        return stats
    return stats.Stats  # 3.2: the class, its metaclass hands out the configured logger
