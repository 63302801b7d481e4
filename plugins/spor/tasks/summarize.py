"""The last task of every run: the run summary, printed and kept in the state database, and the
stage-approval evidence when the run went to SPOR stage."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from spor import metrics
from spor.lifecycle import WaitReason
from spor.pii import mask_person_ids
from spor.state import run_summary, runlog, summary
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


#: How a run's note on OK texts outside the guide's examples begins (kept once per run).
UNFAMILIAR_OK_NOTE = "SPOR answered OK with a text other than the guide's"


def _note_unfamiliar_ok_texts(db: StateDB, run_id: str) -> None:
    """One note per run when SPOR accepted registrations with texts other than "Skapade: N" /
    "Uppdaterade: N": they count as accepted, created or updated as the ledger says."""
    from spor.state import attempts
    from spor.transport.answers import familiar_ok_text

    unfamiliar = {t: n for t, n in attempts.ok_texts(db, run_id).items() if not familiar_ok_text(t)}
    if not unfamiliar or any(e.message.startswith(UNFAMILIAR_OK_NOTE)
                             for e in runlog.events(db, run_id, runlog.INFO)):
        return
    shown = sorted(unfamiliar.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    texts = ", ".join(f"{mask_person_ids(t)[:80]!r} ({n})" for t, n in shown)
    more = f" and {len(unfamiliar) - len(shown)} more" if len(unfamiliar) > len(shown) else ""
    runlog.add(db, run_id, ids.SUMMARIZE, runlog.INFO,
               f"{UNFAMILIAR_OK_NOTE} ({sum(unfamiliar.values())} registrations): {texts}{more}. Accepted "
               "(resultCode OK is final); created or updated as this environment's ledger says.")


def _units_by_system_id() -> dict[str, list[str]]:
    """SystemId -> the OPS units mapped to it in spor_units (empty when it cannot be read: the
    summary still names the SystemId)."""
    from spor.errors import ConfigurationError
    from spor.registration.units import UnitMapping

    try:
        mapping = UnitMapping.from_airflow().as_dict()
    except ConfigurationError:
        return {}
    out: dict[str, list[str]] = {}
    for unit, system_id in sorted(mapping.items()):
        out.setdefault(system_id, []).append(unit)
    return out


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
    from spor.state import batches

    # Every send task is done (this task runs when all are): rows its batches still hold wait.
    released = batches.finish_run(db, run.run_id)
    if released:
        log.info("%d registration(s) still held by this run's batches go back to the outbox, waiting", released)
    if known_environment is not None:
        from spor.state import probes

        # behind a probe that got no answer tonight: re-read and probed again the next night
        left_behind = probes.drop_unsent(db, known_environment)
        if left_behind:
            log.info("%d registration(s) behind an unanswered probe leave the outbox for the next night", left_behind)
    extracted = ti.xcom_pull(task_ids=ids.EXTRACT) or {}
    extra: dict[str, Any] = {
        "opt_out": {k: extracted[k] for k in ("blocked", "blocked_by_reason") if k in extracted},
        "removal_requests": removal_store.raised_in_run(db, run.run_id),
    }
    dry = summary.load_dry_run(db, run.dag_id, run.run_id)
    if dry is not None:
        extra["dry_run"] = dry
    _note_unfamiliar_ok_texts(db, run.run_id)
    if known_environment is not None:
        extra["held_configuration"] = summary.held_for_configuration(
            db, known_environment, run.run_id, settings.held_configuration_days)
        extra["refused_system_ids"] = probes.summary_section(db, known_environment, run.run_id,
                                                                 _units_by_system_id())
    result = summary.compose(db, run, extra)
    if _stage_approval(run, db, known_environment, result):
        result["reports"].append(STAGE_APPROVAL)
    result["report_url"] = _report_url(run)
    run_summary.save(db, run.dag_id, run.run_id, result)
    lineage.run_facets[RUN_COUNTS] = {  # counts only: the run's OpenLineage events carry them, also when it fails
        "environment": known_environment, "mode": run.mode, "dryRun": run.dry_run, "byState": dict(result["by_state"]),
        "warned": result["warned"], "waitingByReason": dict(result["waiting_by_reason"])}
    problems = result.get("stops", []) + result.get("failures", [])
    if known_environment is not None:
        from spor.state import night, waiting

        # The one count of what waits (spor.state.waiting): the summary, the alert and the status page show it.
        left = waiting.resolve(db, known_environment, run_finished=run_finished)
        result["waiting"] = left.as_dict()
        if not run.dry_run:
            # A green run means the night is done (spor.state.night): sendable rows nobody sends fail it.
            metrics.outbox_waiting(known_environment, left.by_reason, reasons=[r.value for r in WaitReason])
            # What only the nightly takes (a resend or backfill leaves it) is not this run's to finish.
            mine = waiting.resolve(db, known_environment, run_finished=run_finished,
                                   taken_by=(run.run_id, run.priority))
            if mine:
                undone = night.NightNotDone(known_environment, mine.total, mine.by_reason, mine.held_by_dead)
                result["night_not_done"] = {"waiting": undone.waiting, "by_reason": undone.by_reason,
                                            "owned_by_dead_batches": undone.owned_by_dead_batches}
                log.error("%s", undone.message())
                problems.append(undone.message())
    result["cause"] = summary.cause_of(result)
    run_summary.save(db, run.dag_id, run.run_id, result)
    # Once, short: the full lists are in the summary report the last line points to.
    for line in summary.render_text(result).splitlines():
        log.info("%s", line)
    if problems:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException("; ".join(problems))
    return {k: v for k, v in result["by_state"].items() if v}
