"""Data-quality gate (docs/quality-gate.md): GX suites in expectations/, per-row verdicts, reports.

Importing this package imports neither Great Expectations nor pandas: they load inside the
functions (GX costs 6-8 s and ~140 MB; docs/notes.md#gx-import-cost), so DAG parsing does not grow.

    from spor.quality import frame_from_treatments, run_gate, render_report, stage_approval_report
"""

from __future__ import annotations

from spor.quality.gx_logging import quiet_gx_import_logs

# Before anything below can import GX: every path to the gate comes through this package.
quiet_gx_import_logs()

from spor.quality.frame import frame_from_treatments, prepare_frame
from spor.quality.gate import ExpectationOutcome, GateResult, QualityGateError, Verdict, run_gate
from spor.quality.report import render_report
from spor.quality.stage_approval import stage_approval_data, stage_approval_report
from spor.quality.suites import SUITES_DIR, load_gx_suites, load_suite_dicts

__all__ = [
    "ExpectationOutcome", "GateResult", "QualityGateError", "SUITES_DIR", "Verdict",
    "frame_from_treatments", "load_gx_suites", "load_suite_dicts", "prepare_frame",
    "render_report", "run_gate", "stage_approval_data", "stage_approval_report",
]
