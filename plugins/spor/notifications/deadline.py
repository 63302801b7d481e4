"""The 05:00 alert: an Airflow Deadline Alert on every SPOR run, evaluated by the scheduler.

A run triggered by hand has no logical date and an hour moves on DST nights, so none of Airflow's
own references says "05:00 tonight". :class:`NextLocalDeadline` does: the first ``deadline`` of
``spor_config`` (default 05:00) Europe/Stockholm after the run's ``run_after`` (docs/notes.md: the
nightly deadline is local time). It reads the setting when the scheduler evaluates it (as the run
is created), not when the DAG file is parsed, so the alert and the send tasks stop at the same time.
The scheduler rebuilds a custom reference only from a plugin, so ``SporPlugin`` lists it in
``deadline_references``. When the deadline passes with the run unfinished, the scheduler's
executor calls :func:`deadline_missed`, which sends the ``deadline_missed`` alert
(:mod:`spor.notifications.alerts`). A finished run's deadline is dropped by Airflow, so a night
done before 05:00 sends nothing. A run whose 05:00 had already passed when it was created (the
days of a backfill, a scheduled run created late) gets no deadline: Airflow stores none for a
reference that returns None, where a past time would alert at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from airflow.sdk.definitions.deadline import BaseDeadlineReference

ZONE = "Europe/Stockholm"

log = logging.getLogger("spor")


def first_local_time_after(moment: datetime, at: time, zone: str = ZONE) -> datetime:
    """The first wall-clock ``at`` in ``zone`` strictly after ``moment`` (aware, in UTC)."""
    tz = ZoneInfo(zone)
    local = moment.astimezone(tz)
    candidate = datetime.combine(local.date(), at, tzinfo=tz)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=tz)
    return candidate.astimezone(ZoneInfo("UTC"))


def deadline_for(run_after: datetime, created_at: datetime, at: time) -> datetime | None:
    """The run's deadline: the first ``at`` Stockholm after ``run_after``, or None when that had
    already passed as the run was created (a backfill day, a run created late for its night):
    Airflow would alert at once for a night that cannot be on time any more."""
    deadline = first_local_time_after(run_after, at)
    return deadline if deadline > created_at else None


@dataclass
class NextLocalDeadline(BaseDeadlineReference):
    """The first ``at`` Europe/Stockholm after the run's ``run_after`` (:func:`deadline_for`: none
    when it had passed as the run was created); ``at=None`` (the DAGs' choice) is ``spor_config``'s
    ``deadline`` as it is when the deadline is evaluated."""

    at: str | None = None
    required_kwargs = frozenset({"dag_id", "run_id"})

    def _evaluate_with(self, *, session: Any, **kwargs: Any) -> datetime | None:
        import sqlalchemy as sa
        from airflow.models import DagRun

        row = session.execute(sa.select(DagRun.run_after, DagRun.created_at).where(
            DagRun.dag_id == kwargs["dag_id"], DagRun.run_id == kwargs["run_id"])).first()
        if row is None or row[0] is None:
            return None
        return deadline_for(row[0], row[1] or datetime.now(UTC), self.local_time(session))

    def local_time(self, session: Any = None) -> time:
        """The wall-clock time of the deadline: ``at``, or the configured ``spor_config.deadline``."""
        if self.at is not None:
            return time.fromisoformat(self.at)
        return configured_deadline(session)

    def serialize_reference(self) -> dict[str, Any]:
        return {**super().serialize_reference(), "at": self.at}

    @classmethod
    def deserialize_reference(cls, reference_data: dict[str, Any]) -> NextLocalDeadline:
        return cls(at=reference_data.get("at"))

    def __hash__(self) -> int:
        return hash((self.reference_name, self.at))


def configured_deadline(session: Any = None) -> time:
    """``spor_config.deadline`` as the scheduler sees it, outside any task: Airflow's secrets
    backends in Airflow's order (environment variables, configured backends, the metadata
    database). The metadata database is read through ``session``, the scheduler's own: a session
    of its own would commit inside the scheduler's loop, which the scheduler forbids."""
    from airflow.configuration import ensure_secrets_loaded
    from airflow.secrets.metastore import MetastoreBackend

    from spor.settings import VARIABLE, parse

    raw = None
    for backend in ensure_secrets_loaded():
        try:
            if isinstance(backend, MetastoreBackend) and session is not None:
                raw = backend.get_variable(VARIABLE, session=session)
            else:
                raw = backend.get_variable(VARIABLE)
        except Exception:  # as Airflow's own lookup: a failing backend, then the next
            log.exception("could not read %s from %s; trying the next secrets backend", VARIABLE,
                          type(backend).__name__)
            continue
        if raw is not None:
            break
    return parse(raw).deadline


def deadline_missed(context: Any = None, **kwargs: Any) -> None:
    """Called by Airflow (a ``SyncCallback``) when the deadline passed with the run unfinished."""
    from spor.notifications import alerts

    context = context or {}
    dag_run = context.get("dag_run") or {}
    get = dag_run.get if isinstance(dag_run, dict) else (lambda k, d=None: getattr(dag_run, k, d))
    deadline = context.get("deadline") or {}
    when = deadline.get("deadline_time") if isinstance(deadline, dict) else getattr(deadline, "deadline_time", None)
    if str(get("state") or "").lower().rsplit(".", 1)[-1] in ("failed", "success"):
        return  # Airflow keeps a failed run's deadline: its failed-run alert already went out
    dag_id = get("dag_id") or kwargs.get("dag_id") or "?"
    run_id = get("run_id") or get("dag_run_id") or kwargs.get("run_id") or "?"
    alerts.send([alerts.deadline_alert(dag_id, run_id, _local(when))])


def _local(when: Any) -> str:
    if isinstance(when, str):
        try:
            when = datetime.fromisoformat(when)
        except ValueError:
            return when
    if isinstance(when, datetime):
        return f"{when.astimezone(ZoneInfo(ZONE)):%Y-%m-%d %H:%M %Z}"
    return "05:00 Europe/Stockholm"


def nightly_deadline(at: str | None = None) -> Any:
    """The DeadlineAlert the SPOR DAGs carry (imports the Task SDK only). Without ``at``, it
    fires at ``spor_config.deadline`` (default 05:00), read when each run is created."""
    # Their own modules: the Task SDK's typed interface (airflow/sdk/__init__.pyi) leaves them out.
    from airflow.sdk.definitions.callback import SyncCallback
    from airflow.sdk.definitions.deadline import DeadlineAlert

    return DeadlineAlert(reference=NextLocalDeadline(at=at), interval=timedelta(0),
                         callback=SyncCallback(deadline_missed))


def for_dag_test(dag: Any) -> Any:
    """``dag`` without its deadline, for ``dag.test()``: in Airflow 3.3 ``dag.test()`` runs a
    serialized copy whose deadline alerts have no database ids, and finishing the run then fails
    (``DeadlineAlert.get_by_id({})``). The scheduler, which evaluates deadlines, is not affected."""
    dag.deadline = None
    return dag
