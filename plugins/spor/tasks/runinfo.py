"""What started a run and what it may do: nightly, manual, backfill or resend."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from spor.clock import STOCKHOLM

if TYPE_CHECKING:
    from spor.send.windows import SendingWindow
    from spor.settings import Settings

NIGHTLY, MANUAL, BACKFILL, RESEND = "nightly", "manual", "backfill", "resend"


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


def from_context(context: Mapping[str, Any]) -> RunInfo:
    dag_run = context["dag_run"]
    run_type = str(getattr(dag_run.run_type, "value", dag_run.run_type))
    if dag_run.dag_id == "spor_resend":
        mode = RESEND
    elif run_type == "scheduled":
        mode = NIGHTLY
    elif run_type == "backfill":
        mode = BACKFILL
    else:
        mode = MANUAL
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
