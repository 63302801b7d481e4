"""The task chain both DAGs share; only the extraction differs (changed since the watermark, or chosen)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync
from airflow.sdk import task

from spor import compat
from spor.notifications.alerts import on_run_failed, on_run_succeeded
from spor.tasks import ids
from spor.tasks.build_and_stage import build_and_stage
from spor.tasks.check_certificate import check_certificate
from spor.tasks.context import TaskCallable
from spor.tasks.plan_batches import plan_batches
from spor.tasks.quality_gate import quality_gate
from spor.tasks.raise_removal_requests import raise_removal_requests
from spor.tasks.send_batch import send_batch
from spor.tasks.summarize import summarize

#: The send tasks' pool when ``[spor] pool`` is not set (pools.json creates it with its slots).
DEFAULT_POOL = "spor"

#: What both DAGs share: one run at a time, no catch-up of missed nights (the watermark and the
#: outbox carry the work over), no Airflow task retries except for the send tasks (below);
#: when a run ends, the team's alerts (spor.notifications.alerts).
DAG_DEFAULTS: dict[str, Any] = {
    "start_date": pendulum.datetime(2026, 1, 1, tz="Europe/Stockholm"),
    "catchup": False,
    "max_active_runs": 1,
    "tags": ["spor"],
    "default_args": {"retries": 0},
    "on_failure_callback": on_run_failed,
    "on_success_callback": on_run_succeeded,
}


#: A send task whose worker died (SIGKILL, lost node) is retried and continues its batch (it
#: claims the same batch and sends what it still owns, docs/adr/0005). A run-stopping error
#: (certificate rejected, systemic stop, block list unreadable, configuration) is not retried: the
#: same attempt would stop the same way (a retry policy on Airflow 3.3, AirflowFailException on
#: 3.2: spor.compat). Transient SPOR errors never reach Airflow: the send loop defers them within
#: the window.
SEND_RETRIES: dict[str, Any] = {
    "retries": 2,
    "retry_delay": timedelta(seconds=15),
    **compat.run_stopping_not_retried(),
}


def certificate_queue() -> dict[str, str]:
    """``queue=`` for the tasks that use the SITHS certificate (``[spor] certificate_queue``,
    e.g. ``AIRFLOW__SPOR__CERTIFICATE_QUEUE``); nothing when unset, so the default queue applies."""
    from airflow.sdk.configuration import conf

    name = (conf.get("spor", "certificate_queue", fallback="") or "").strip()
    return {"queue": name} if name else {}


def send_pool() -> str:
    """The pool of the send tasks (``[spor] pool``, e.g. ``AIRFLOW__SPOR__POOL``; default ``spor``)."""
    from airflow.sdk.configuration import conf

    return (conf.get("spor", "pool", fallback="") or "").strip() or DEFAULT_POOL


def _task(body: TaskCallable, **kwargs: Any) -> Any:
    """The Airflow task of a body, under the task id its ``recorded`` decorator gave it."""
    return task(task_id=body.task_id, doc_md=body.__doc__, **kwargs)(body)


def pipeline(extract: TaskCallable) -> None:
    """check_certificate → extract → quality_gate → build_and_stage → plan_batches → wait_for_window
    → send_batch × N (pool ``[spor] pool``, default ``spor``, labelled "batch N") → summarize (always runs); beside them,
    after extract (the block list was readable): raise_removal_requests (R11)."""
    holds_certificate = certificate_queue()
    certificate = _task(check_certificate, **holds_certificate)()
    extracted = _task(extract)()
    gate = _task(quality_gate)(extracted)
    staged = _task(build_and_stage)(extracted, gate)
    batches = _task(plan_batches)(staged)
    wait = DateTimeSensorAsync(
        task_id=ids.WAIT_FOR_WINDOW,
        target_time=f"{{{{ ti.xcom_pull(task_ids='{ids.PLAN_BATCHES}', key='{ids.XCOM_WINDOW_OPENS_AT}') }}}}",
        doc_md="Defers (no worker slot held) while the run would otherwise start inside 05:15-06:00.",
    )
    sent = _task(send_batch, pool=send_pool(), map_index_template="{{ batch_label }}",
                 **SEND_RETRIES, **holds_certificate).expand(batch=batches)
    removals = _task(raise_removal_requests)()
    summary = _task(summarize, trigger_rule="all_done")()
    certificate >> extracted >> removals >> summary
    batches >> wait >> sent >> summary
    staged >> summary
