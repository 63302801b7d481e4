"""The quality-gate task: check the extracted treatments against the Great Expectations suites,
hold back what they reject and list what they only warn about."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from spor.state import held_back
from spor.tasks import ids
from spor.tasks.context import recorded
from spor.tasks.runinfo import RunInfo

if TYPE_CHECKING:
    from spor.lineage.report import TaskLineage
    from spor.quality.gate import GateResult
    from spor.state.database import StateDB

log = logging.getLogger("spor")


def _hold_codelist_only(db: StateDB, run_id: str, environment: str, result: GateResult,
                        unit_of: dict[str, Any]) -> None:
    """Quarantined only for a code the code lists do not know: held back for configuration too,
    so a code-list update sends it the next night without a change in the OPS."""
    from spor.quality.suites import codelist_expectation_ids
    from spor.quality.verdicts import codelist_only
    from spor.state import held_configuration

    numbers = codelist_only(result, codelist_expectation_ids())
    held_configuration.hold(db, environment, run_id, [
        held_configuration.Held(bnr, held_configuration.CODE_LIST,
                                None if unit_of.get(bnr) is None else str(unit_of[bnr]).strip())
        for bnr in numbers])


@recorded(ids.QUALITY_GATE)
def quality_gate(extracted: dict[str, Any], *, run: RunInfo, db: StateDB, environment: str,
                 lineage: TaskLineage) -> dict[str, Any]:
    """Runs the Great Expectations suites of `expectations/` on the extracted (unblocked)
    treatments. *reject* verdicts quarantine a treatment (not sent); *warn* verdicts are sent and
    listed as predicted entries on SPOR's error list. The HTML report is kept in the state
    database (see the summary for how to open it)."""
    from dataclasses import asdict

    from spor.extract import handover
    from spor.lineage.report import CHECKED_VIEWS, QUALITY_GATE
    from spor.quality import run_reports
    from spor.quality.frame import frame_from_treatments
    from spor.quality.gate import run_gate
    from spor.quality.verdicts import gate_verdicts

    lineage.reads_ops(CHECKED_VIEWS)  # what the gate judges: the OPS data, read by extract
    treatments = list(handover.iterate(db, run.run_id))
    unit_of = {t.behandlingsnummer: t.row.get("enhet") for t in treatments}  # unit names, no personal data
    if not treatments:
        lineage.run_facets[QUALITY_GATE] = {"checked": 0, "quarantined": 0, "identityUnknown": 0, "warned": 0, "byRule": {}}
        return {"checked": 0, "quarantined": 0, "identity_unknown": 0, "warned": 0}
    frame = frame_from_treatments(treatments)
    del treatments
    result = run_gate(frame, run_id=run.run_id)
    held_back.record(db, run.run_id, gate_verdicts(result, environment))
    if not run.dry_run:
        _hold_codelist_only(db, run.run_id, environment, result, unit_of)
    run_reports.save_gate_reports(db, run.dag_id, run.run_id, result, frame)
    counts = {"checked": len(result.ids), "quarantined": len(result.quarantined - result.identity_unknown),
              "identity_unknown": len(result.identity_unknown), "warned": len(result.warned),
              "by_rule": result.counts_by_rule()}
    # Per expectation: type, id, suite, rule, severity, counts; never a failing value.
    lineage.assertions = [asdict(e) for e in result.expectation_results]
    lineage.run_facets[QUALITY_GATE] = {"checked": counts["checked"], "quarantined": counts["quarantined"],
                                        "identityUnknown": counts["identity_unknown"], "warned": counts["warned"],
                                        "byRule": counts["by_rule"]}
    log.info("quality gate: %s (GX import %.1fs, validation %.1fs)", counts, result.gx_import_seconds,
             result.validation_seconds)
    return counts
