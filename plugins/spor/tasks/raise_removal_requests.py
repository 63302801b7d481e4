"""The removal-request task: ask UCR to remove what SPOR accepted but may no longer hold (R11)."""

from __future__ import annotations

import logging

from spor.tasks.context import TaskEnv, recorded

log = logging.getLogger("spor")


@recorded("raise_removal_requests")
def raise_removal_requests(env: TaskEnv) -> dict:
    """Raises removal requests to UCR (R11) for data SPOR already accepted: one per block list
    entry and environment that covers an accepted treatment, and one per accepted treatment since
    deleted in the OPS (sent by mistake); each exactly once. E-mails every raised request when the
    Variable `spor_removal_notifier` names an SMTP connection; otherwise they wait for the team
    (`python -m spor removal list`). Fails, raising nothing, when the block list cannot be read."""
    from spor.removal import nightly as removal_nightly

    if env.dry_run:
        log.info("dry run: no removal request is raised")
        return {"skipped": "dry run"}
    counts = removal_nightly.nightly_step(env.db, env.reader, run_id=env.run.run_id, clock=env.clock,
                                  notifier=removal_nightly.notifier_from_airflow())
    log.info("removal requests: %s", counts)
    return counts
