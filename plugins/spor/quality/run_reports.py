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


def save_gate_reports(db: StateDB, dag_id: str, run_id: str, result: GateResult, frame: pd.DataFrame) -> None:
    """Keep the gate's report, its result and the mapping coverage of the checked treatments."""
    from spor.quality.report import render_report

    runlog.save_report(db, dag_id, run_id, QUALITY, render_report(result, run_id))
    runlog.save_report(db, dag_id, run_id, QUALITY_JSON, result.to_json(), "application/json")
    # Mapping coverage per variable, for the stage-approval evidence built when the run ends.
    from spor.quality.stage_approval import mapping_coverage

    runlog.save_report(db, dag_id, run_id, COVERAGE_JSON,
                       json.dumps({"registrations": len(frame), "coverage": mapping_coverage(frame)}), "application/json")


def save_stage_approval(db: StateDB, dag_id: str, run_id: str, answers: dict[str, int]) -> bool:
    """Build and keep the stage-approval page from the run's kept gate reports and SPOR's
    ``answers`` (counts per state). False when the run kept no gate reports (nothing was checked)."""
    coverage = runlog.load_report(db, dag_id, run_id, COVERAGE_JSON)
    gate = runlog.load_report(db, dag_id, run_id, QUALITY_JSON)
    if coverage is None or gate is None:
        return False
    from spor.quality.gate import GateResult
    from spor.quality.stage_approval import stage_approval_report

    cov = json.loads(coverage[1])
    page = stage_approval_report(None, GateResult.from_json(gate[1]), answers, run_id=run_id,
                                 coverage=cov["coverage"], registrations=cov["registrations"])
    runlog.save_report(db, dag_id, run_id, STAGE_APPROVAL, page)
    return True
