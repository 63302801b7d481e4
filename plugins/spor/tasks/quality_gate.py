"""The quality-gate task: check the extracted treatments against the Great Expectations suites,
hold back what they reject and list what they only warn about."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from spor.state import held_back
from spor.state.held_back import WARNED, HeldBackItem
from spor.tasks.context import TaskEnv, recorded

if TYPE_CHECKING:
    from spor.quality.gate import GateResult

log = logging.getLogger("spor")


def _held_back_items(result: GateResult, environment: str) -> list[HeldBackItem]:
    """One item per rejected treatment (quarantined or identity unknown) and per warned one,
    with the rules and expectations that gave the verdict."""
    from spor.states import State

    items = []
    by_id: dict[str, list] = {}
    for v in result.verdicts:
        by_id.setdefault(v.behandlingsnummer, []).append(v)
    for bnr in sorted(result.quarantined):
        rejects = [v for v in by_id[bnr] if v.severity == "reject"]
        state = State.IDENTITY_UNKNOWN if bnr in result.identity_unknown else State.QUARANTINED
        items.append(HeldBackItem(bnr, state, rule=",".join(sorted({v.rule for v in rejects})),
                                  reason="quality gate: " + ", ".join(sorted({v.expectation_id for v in rejects})),
                                  environment=environment))
    for bnr in sorted(result.warned):
        warns = [v for v in by_id[bnr] if v.severity == "warn"]
        items.append(HeldBackItem(bnr, WARNED, rule=",".join(sorted({v.rule for v in warns})),
                                  reason="predicted fellista: " + ", ".join(sorted({v.expectation_id for v in warns})),
                                  environment=environment))
    return items


@recorded("quality_gate")
def quality_gate(env: TaskEnv, extracted: dict) -> dict:
    """Runs the Great Expectations suites of `expectations/` on the extracted (unblocked)
    treatments. *reject* verdicts quarantine a treatment (not sent); *warn* verdicts are sent and
    listed as predicted entries on SPOR's error list. The HTML report is kept in the state
    database (see the summary for how to open it)."""
    from spor.extract import handover
    from spor.quality import run_reports
    from spor.quality.frame import frame_from_treatments
    from spor.quality.gate import run_gate

    treatments = list(handover.iterate(env.db, env.run.run_id))
    if not treatments:
        return {"checked": 0, "quarantined": 0, "identity_unknown": 0, "warned": 0}
    frame = frame_from_treatments(treatments)
    del treatments
    result = run_gate(frame, run_id=env.run.run_id)
    held_back.record(env.db, env.run.run_id, _held_back_items(result, env.environment))
    run_reports.save_gate_reports(env.db, env.run.dag_id, env.run.run_id, result, frame)
    counts = {"checked": len(result.ids), "quarantined": len(result.quarantined - result.identity_unknown),
              "identity_unknown": len(result.identity_unknown), "warned": len(result.warned),
              "by_rule": result.counts_by_rule()}
    log.info("quality gate: %s (GX import %.1fs, validation %.1fs)", counts, result.gx_import_seconds,
             result.validation_seconds)
    return counts
