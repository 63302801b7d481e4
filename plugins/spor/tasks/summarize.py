"""The last task of every run: the run summary, printed and kept in the state database, and the
stage-approval evidence when the run went to SPOR stage."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from spor import metrics
from spor.lifecycle import WaitReason
from spor.state import run_summary, summary
from spor.tasks import ids
from spor.tasks.context import TaskInstance, recorded
from spor.tasks.runinfo import RunInfo

if TYPE_CHECKING:
    from spor.lineage.report import TaskLineage
    from spor.settings import Settings
    from spor.state.database import StateDB

log = logging.getLogger("spor")


def _stage_approval(run: RunInfo, db: StateDB, environment: str | None, result: dict[str, Any]) -> bool:
    """Against SPOR stage, every run also keeps the stage-approval evidence (R4): mapping coverage
    per variable, the quality results and SPOR's answers, as one page the unit sends to SPOR.
    Without a known environment (check_certificate failed) nothing was sent: no evidence."""
    if environment is None or environment == "production":
        return False
    from spor.quality import run_reports

    answers = {k: v for k, v in result["by_state"].items() if v}
    return run_reports.save_stage_approval(db, run.dag_id, run.run_id, answers)


def _report_url(run: RunInfo) -> str | None:
    try:
        from spor.links import report_url

        return report_url(run.dag_id, run.run_id, "summary")
    except Exception:  # noqa: BLE001 - without Airflow's configuration the CLI command is named instead
        return None


@recorded(ids.SUMMARIZE)
def summarize(*, run: RunInfo, db: StateDB, ti: TaskInstance, known_environment: str | None,
              run_finished: Callable[[str, str], bool], lineage: TaskLineage, settings: Settings) -> dict[str, int]:
    """Counts per state of the registration state machine, the treatment numbers that need the
    team with their reason, what waits and why, the capacity warning and any stop. Printed here
    and kept in the state database. Fails the run when a task failed or the run was stopped.
    Removes the run's extracted treatments from the state database first, whatever the outcome."""
    from spor.extract import handover
    from spor.lineage.report import RUN_COUNTS
    from spor.quality.run_reports import STAGE_APPROVAL
    from spor.removal import store as removal_store

    handover.clear(db, run.run_id)  # personal data never outlives its run, whatever its outcome
    extracted = ti.xcom_pull(task_ids=ids.EXTRACT) or {}
    extra: dict[str, Any] = {
        "opt_out": {k: extracted[k] for k in ("blocked", "blocked_by_reason") if k in extracted},
        "removal_requests": removal_store.raised_in_run(db, run.run_id),
    }
    dry = summary.load_dry_run(db, run.dag_id, run.run_id)
    if dry is not None:
        extra["dry_run"] = dry
    if known_environment is not None:
        extra["held_configuration"] = summary.held_for_configuration(
            db, known_environment, run.run_id, settings.held_configuration_days)
    result = summary.compose(db, run, extra)
    if _stage_approval(run, db, known_environment, result):
        result["reports"].append(STAGE_APPROVAL)
    result["report_url"] = _report_url(run)
    run_summary.save(db, run.dag_id, run.run_id, result)
    # Once, short: the full lists are in the summary report the last line points to.
    for line in summary.render_text(result).splitlines():
        log.info("%s", line)
    lineage.run_facets[RUN_COUNTS] = {  # counts only: the run's OpenLineage events carry them, also when it fails
        "environment": known_environment, "mode": run.mode, "dryRun": run.dry_run, "byState": dict(result["by_state"]),
        "warned": result["warned"], "waitingByReason": dict(result["waiting_by_reason"])}
    problems = result.get("stops", []) + result.get("failures", [])
    if not run.dry_run and known_environment is not None:
        # A green run means the night is done (spor.state.night): sendable rows nobody sends fail it.
        from spor.state import night

        undone = night.not_done(db, known_environment, run_finished=run_finished)
        metrics.outbox_waiting(known_environment, undone.by_reason, reasons=[r.value for r in WaitReason])
        if undone:
            result["night_not_done"] = {"waiting": undone.waiting, "by_reason": undone.by_reason,
                                        "owned_by_dead_batches": undone.owned_by_dead_batches}
            run_summary.save(db, run.dag_id, run.run_id, result)
            log.error("%s", undone.message())
            problems.append(undone.message())
    if problems:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException("; ".join(problems))
    return {k: v for k, v in result["by_state"].items() if v}
