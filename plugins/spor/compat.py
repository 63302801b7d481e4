"""What differs between the Airflow releases the package supports (3.2.2 and later 3.x), in one place.

Run-stopping errors (:class:`spor.errors.RunStoppingError`) must fail a task without an Airflow
retry: the same attempt would stop the same way. Airflow 3.3 says so per task with a retry policy
(``ExceptionRetryPolicy``, new in its Task SDK), which :func:`run_stopping_not_retried` returns.
Airflow 3.2 has none, so there the task callable re-raises the error as ``AirflowFailException``,
which Airflow never retries (:func:`raise_run_stopping`). Either way a run-stopping error fails its
task on the first try, and anything else (a worker that died) is retried as configured.

Airflow's metrics object moved too: :func:`airflow_stats`.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any

from spor.errors import RunStoppingError

#: The retry rule's exception, as the dotted path Airflow imports on the worker.
RUN_STOPPING = f"{RunStoppingError.__module__}.{RunStoppingError.__qualname__}"


def has_retry_policy() -> bool:
    """True when the installed Task SDK has retry policies (Airflow 3.3 and later)."""
    return find_spec("airflow.sdk.definitions.retry_policy") is not None


def run_stopping_not_retried() -> dict[str, Any]:
    """Task arguments that fail a task raising a run-stopping error on its first try: Airflow
    3.3's retry policy; nothing on 3.2, where :func:`raise_run_stopping` does it."""
    if not has_retry_policy():
        return {}
    from airflow.sdk import ExceptionRetryPolicy, RetryAction, RetryRule

    return {"retry_policy": ExceptionRetryPolicy(rules=[RetryRule(
        exception=RUN_STOPPING, action=RetryAction.FAIL,
        reason="certificate, systemic, block-list or configuration stop: a retry would stop the same way")])}


def raise_run_stopping(error: RunStoppingError) -> None:
    """Called in a task's ``except`` block: on Airflow 3.2, raises ``AirflowFailException`` with
    the error's type and text (the error itself as its cause); on 3.3 returns, so the caller
    re-raises the error and the retry policy sees it."""
    if has_retry_policy():
        return
    from airflow.sdk.exceptions import AirflowFailException

    raise AirflowFailException(f"{type(error).__name__}: {error}") from error


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
