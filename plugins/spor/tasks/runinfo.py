"""What started a run and what it may do: nightly, manual, backfill or resend."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from spor.clock import STOCKHOLM
from spor.lifecycle import NIGHT_PRIORITY

if TYPE_CHECKING:
    from spor.send.windows import SendingWindow
    from spor.settings import Settings

NIGHTLY, MANUAL, BACKFILL, RESEND = "nightly", "manual", "backfill", "resend"

#: The outbox priority a run stages its rows with (higher is planned and sent first): the night's
#: own registrations must be in SPOR before 05:00, a resend is a person waiting for an answer, a
#: backfill is history that can wait (docs/adr/0002-sending-windows-and-run-modes.md#the-nightly-first).
#: The nightly's is the column's default 0, so rows staged before priorities existed count as the night's.
STAGING_PRIORITY = {NIGHTLY: NIGHT_PRIORITY, MANUAL: NIGHT_PRIORITY, RESEND: -10, BACKFILL: -20}

#: Airflow's run id prefix of backfill runs (``backfill__<logical date>``).
BACKFILL_RUN_PREFIX = "backfill__"


@dataclass(frozen=True)
class RunInfo:
    dag_id: str
    run_id: str
    mode: str
    logical_date: datetime | None     # None for runs triggered by hand (docs/notes.md#manual-runs-no-logical-date)
    run_after: datetime
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def force(self) -> bool:
        return bool(self.params.get("force", False))

    @property
    def dry_run(self) -> bool:
        return bool(self.params.get("dry_run", False))

    @property
    def priority(self) -> int:
        """The outbox priority of the rows this run stages (``STAGING_PRIORITY``)."""
        return STAGING_PRIORITY[self.mode]

    @property
    def has_deadline(self) -> bool:
        """spor_nightly runs (scheduled or triggered by hand) stop at the deadline; every run respects the blackout."""
        return self.mode in (NIGHTLY, MANUAL)

    @property
    def backfill_day(self) -> date | None:
        """A backfill run is the night after a day, like the scheduled run it stands in for: the
        run at 00:30 on local day D+1 extracts the treatments last changed on local day D.
        So `backfill create --from-date D1 --to-date Dn` covers D1 … Dn−1 (ADR 0002)."""
        if self.mode != BACKFILL or self.logical_date is None:
            return None
        return self.logical_date.astimezone(STOCKHOLM).date() - timedelta(days=1)


def mode_of(dag_id: str, run_type: str) -> str:
    """The mode of a run from its DAG and Airflow's run type (``scheduled``, ``backfill``, ``manual``…)."""
    if dag_id == "spor_resend":
        return RESEND
    if run_type == "scheduled":
        return NIGHTLY
    if run_type == "backfill":
        return BACKFILL
    return MANUAL


def is_catch_up(dag_id: str, run_id: str) -> bool:
    """Whether a run is a resend or a backfill (daytime work that must leave the nightly its slots),
    known from its ids alone (the batch table keeps no run type)."""
    return dag_id == "spor_resend" or run_id.startswith(BACKFILL_RUN_PREFIX)


#: The send tasks' pool when ``[spor] pool`` is not set (pools.json creates it with its slots).
DEFAULT_POOL = "spor"


def send_pool(dag_id: str = "", run_id: str = "") -> str:
    """The pool of a run's send tasks: ``[spor] pool`` (default ``spor``) for the nightly, and for
    resends and backfills (``is_catch_up``) ``[spor] backfill_pool`` when set, so that they cannot
    take the nightly's slots. Without ids: the nightly's pool."""
    from airflow.sdk.configuration import conf

    nightly = (conf.get("spor", "pool", fallback="") or "").strip() or DEFAULT_POOL
    if dag_id and is_catch_up(dag_id, run_id):
        return (conf.get("spor", "backfill_pool", fallback="") or "").strip() or nightly
    return nightly


def from_context(context: Mapping[str, Any]) -> RunInfo:
    dag_run = context["dag_run"]
    run_type = str(getattr(dag_run.run_type, "value", dag_run.run_type))
    mode = mode_of(dag_run.dag_id, run_type)
    params = dict(context.get("params") or {})
    params.update(dag_run.conf or {})
    return RunInfo(
        dag_id=dag_run.dag_id,
        run_id=dag_run.run_id,
        mode=mode,
        logical_date=context.get("logical_date"),
        run_after=dag_run.run_after,
        params=params,
    )


def sending_window(run: RunInfo, settings: Settings, started_at: datetime) -> SendingWindow:
    """The run's sending window: the deadline for spor_nightly runs, the blackout for all."""
    from spor.send.windows import SendingWindow

    return SendingWindow.for_run(has_deadline=run.has_deadline, started_at=started_at, deadline=settings.deadline,
                                 margin=timedelta(seconds=settings.send_margin_seconds))
