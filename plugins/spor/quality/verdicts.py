"""The quality gate's verdicts as held-back items, the same for the nightly run and ``spor render``.

The gate's *reject* verdicts hold a treatment back as quarantined (or identity unknown, for a
reservnummer), named by its rules and the expectations that failed; its *warn* verdicts let it
through, listed with what SPOR will do with it: a predicted entry on SPOR's error list, or the
expectation's own consequence (R9: counted as requested only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spor.lifecycle import State
from spor.quality.gate import FELLISTA
from spor.verdicts import WARNED, HeldBackItem

if TYPE_CHECKING:
    from spor.quality.gate import GateResult


def gate_verdicts(result: GateResult, environment: str | None) -> list[HeldBackItem]:
    """One item per rejected treatment (quarantined or identity unknown) and per warned one,
    with the rules and expectations that gave the verdict."""
    by_id: dict[str, list] = {}
    for v in result.verdicts:
        by_id.setdefault(v.behandlingsnummer, []).append(v)
    items = []
    for bnr in sorted(result.quarantined):
        rejects = [v for v in by_id[bnr] if v.severity == "reject"]
        state = State.IDENTITY_UNKNOWN if bnr in result.identity_unknown else State.QUARANTINED
        items.append(HeldBackItem(bnr, state, rule=",".join(sorted({v.rule for v in rejects})),
                                  reason="quality gate: " + ", ".join(sorted({v.expectation_id for v in rejects})),
                                  environment=environment))
    consequence = {o.expectation_id: o.consequence for o in result.expectation_results}
    for bnr in sorted(result.warned):
        warns = [v for v in by_id[bnr] if v.severity == "warn"]
        ids_by_consequence: dict[str, set[str]] = {}
        for v in warns:
            ids_by_consequence.setdefault(consequence.get(v.expectation_id, FELLISTA), set()).add(v.expectation_id)
        reason = "; ".join(f"{what}: " + ", ".join(sorted(ids)) for what, ids in sorted(ids_by_consequence.items()))
        items.append(HeldBackItem(bnr, WARNED, rule=",".join(sorted({v.rule for v in warns})), reason=reason,
                                  environment=environment))
    return items


def check_gate(treatments: list[Any], *, environment: str | None, run_id: str | None = None) -> list[HeldBackItem]:
    """Run the quality gate over the (already filtered) treatments as the night does."""
    if not treatments:
        return []
    from spor.quality.frame import frame_from_treatments
    from spor.quality.gate import run_gate

    return gate_verdicts(run_gate(frame_from_treatments(treatments), run_id=run_id), environment)
