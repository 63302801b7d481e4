"""The quality reports a run keeps in the state database: the gate's HTML report and its result as
JSON, the mapping coverage, and, against SPOR stage, the stage-approval evidence (R4) built from
them and SPOR's answers when the run ends.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from spor.state import runlog

if TYPE_CHECKING:
    import pandas as pd

    from spor.quality.gate import GateResult
    from spor.state.database import StateDB

#: Report kinds (``python -m spor report --kind ...``).
QUALITY, QUALITY_JSON, COVERAGE_JSON, STAGE_APPROVAL = "quality", "quality-json", "coverage-json", "stage-approval"
#: Per unit, what each stage run showed: what the next runs judge readiness from.
STAGE_APPROVAL_JSON = "stage-approval-json"


def save_gate_reports(db: StateDB, dag_id: str, run_id: str, result: GateResult, frame: pd.DataFrame) -> None:
    """Keep the gate's report, its result and the mapping coverage of the checked treatments."""
    from spor.quality.report import render_report

    runlog.save_report(db, dag_id, run_id, QUALITY, render_report(result, run_id))
    runlog.save_report(db, dag_id, run_id, QUALITY_JSON, result.to_json(), "application/json")
    # Mapping coverage per variable, for the stage-approval evidence built when the run ends.
    from spor.quality.stage_approval import mapping_coverage

    by_unit: dict[str, dict[str, object]] = {}
    if "enhet" in frame.columns and len(frame):
        for enhet, rows in frame.groupby(frame["enhet"].fillna("").astype(str).str.strip(), sort=True):
            by_unit[str(enhet)] = {"numbers": [str(n) for n in rows["behandlingsnummer"]],
                                   "coverage": mapping_coverage(rows)}
    runlog.save_report(db, dag_id, run_id, COVERAGE_JSON,
                       json.dumps({"registrations": len(frame), "coverage": mapping_coverage(frame), "by_unit": by_unit}),
                       "application/json")


def save_stage_approval(db: StateDB, dag_id: str, run_id: str, answers: dict[str, int]) -> bool:
    """Build and keep the stage-approval page from the run's kept gate reports and SPOR's
    ``answers`` (counts per state), with a section per unit judged over this DAG's earlier stage
    runs. False when the run kept no gate reports (nothing was checked)."""
    coverage = runlog.load_report(db, dag_id, run_id, COVERAGE_JSON)
    gate = runlog.load_report(db, dag_id, run_id, QUALITY_JSON)
    if coverage is None or gate is None:
        return False
    from spor.quality.gate import GateResult
    from spor.quality.stage_approval import stage_approval_report
    from spor.quality.unit_approval import UnitNight, unit_nights
    from spor.state import attempts, held_back

    cov = json.loads(coverage[1])
    result = GateResult.from_json(gate[1])
    units = unit_nights(run_id, cov.get("by_unit", {}), result.verdicts,
                        attempts.final_answers_in_run(db, run_id), held_back.states_in_run(db, run_id))
    runlog.save_report(db, dag_id, run_id, STAGE_APPROVAL_JSON,
                       json.dumps({"units": [u.to_dict() for u in units]}), "application/json")
    history: dict[str, list[UnitNight]] = {u.enhet: [u] for u in units}
    for _dag, earlier, kind, _at in runlog.list_reports(db, dag_id, limit=1000):
        if kind != STAGE_APPROVAL_JSON or earlier == run_id:
            continue
        kept = runlog.load_report(db, dag_id, earlier, STAGE_APPROVAL_JSON)
        for unit in json.loads(kept[1])["units"] if kept else ():
            if unit.get("enhet") in history:
                history[unit["enhet"]].append(UnitNight.from_dict(unit))
    page = stage_approval_report(None, result, answers, run_id=run_id,
                                 coverage=cov["coverage"], registrations=cov["registrations"], units=history)
    runlog.save_report(db, dag_id, run_id, STAGE_APPROVAL, page)
    return True
