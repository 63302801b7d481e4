"""The removal-request task: ask UCR to remove what SPOR accepted but may no longer hold (R11)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from spor.tasks import ids
from spor.tasks.context import recorded
from spor.tasks.runinfo import RunInfo

if TYPE_CHECKING:
    from spor.clock import Clock
    from spor.extract.source import SourceReader
    from spor.state.database import StateDB

log = logging.getLogger("spor")


@recorded(ids.RAISE_REMOVAL_REQUESTS)
def raise_removal_requests(*, run: RunInfo, db: StateDB, reader: SourceReader, clock: Clock) -> dict[str, Any]:
    """Raises removal requests to UCR (R11) for data SPOR already accepted: one per block list
    entry and environment that covers an accepted treatment, and one per accepted treatment since
    deleted in the OPS (sent by mistake); each exactly once. E-mails every raised request when the
    Variable `spor_notifications` names an SMTP connection; otherwise they wait for the team
    (`python -m spor removal list`). Fails, raising nothing, when the block list cannot be read."""
    from spor.notifications import setting
    from spor.removal import nightly as removal_nightly
    from spor.state import runlog

    if run.dry_run:
        log.info("dry run: no removal request is raised")
        return {"skipped": "dry run"}
    notifier = removal_nightly.notifier_from_airflow()
    if setting.read_under_old_name(notifier.setting if notifier is not None else None):  # a note in the run summary
        runlog.add(db, run.run_id, ids.RAISE_REMOVAL_REQUESTS, runlog.INFO, setting.deprecation_note())
    counts = removal_nightly.nightly_step(db, reader, run_id=run.run_id, clock=clock, notifier=notifier)
    log.info("removal requests: %s", counts)
    return counts
