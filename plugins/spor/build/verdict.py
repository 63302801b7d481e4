"""One verdict per treatment, the same for the nightly run and for the preview (``spor render``).

After the opt-out filter, a treatment meets the quality gate and then the builder:

* the gate's *reject* verdicts hold it back as quarantined (or identity unknown, for a
  reservnummer), named by its rules and the expectations that failed;
* the gate's *warn* verdicts let it through, listed as a predicted entry on SPOR's error list;
* the builder either makes its registration or holds it back as not buildable (or identity
  unknown) with the rule and the variable.

The quality-gate and build-and-stage tasks record these verdicts in the held-back list and the
summary prints them; ``spor render`` prints the same line for each. A line names the treatment
number, the state, the rule, the variable and the reason: never an identity number.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from spor.state.held_back import WARNED, HeldBackItem

if TYPE_CHECKING:
    from spor.build.registration import Registration
    from spor.quality.gate import GateResult


def gate_verdicts(result: "GateResult", environment: str | None) -> list[HeldBackItem]:
    """One item per rejected treatment (quarantined or identity unknown) and per warned one,
    with the rules and expectations that gave the verdict."""
    from spor.states import State

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
    for bnr in sorted(result.warned):
        warns = [v for v in by_id[bnr] if v.severity == "warn"]
        items.append(HeldBackItem(bnr, WARNED, rule=",".join(sorted({v.rule for v in warns})),
                                  reason="predicted fellista: " + ", ".join(sorted({v.expectation_id for v in warns})),
                                  environment=environment))
    return items


def check_gate(treatments: list[Any], *, environment: str | None, run_id: str | None = None) -> list[HeldBackItem]:
    """Run the quality gate over the (already filtered) treatments as the night does."""
    if not treatments:
        return []
    from spor.quality.frame import frame_from_treatments
    from spor.quality.gate import run_gate

    return gate_verdicts(run_gate(frame_from_treatments(treatments), run_id=run_id), environment)


def build_verdict(treatment: Any, units: Any, *, environment: str | None,
                  schema: Any = None) -> "Registration | HeldBackItem":
    """The registration of one treatment that passed the gate, or why it cannot be built."""
    from spor.build.registration import build_registration
    from spor.errors import BuildError, IdentityUnknown
    from spor.states import State

    try:
        return build_registration(treatment.row, treatment.children, units.system_id(treatment.row.get("enhet")),
                                  schema=schema)
    except BuildError as exc:  # IdentityUnknown is a BuildError with its own state
        state = State.IDENTITY_UNKNOWN if isinstance(exc, IdentityUnknown) else State.NOT_BUILDABLE
        return HeldBackItem(str(treatment.behandlingsnummer), state, rule=exc.rule, reason=exc.reason,
                            variable=exc.variable, environment=environment)


def held_back_numbers(items: Iterable[HeldBackItem]) -> set[str]:
    """The treatments the gate's verdicts keep from the builder (everything but the warned)."""
    return {str(i.behandlingsnummer) for i in items if _state(i) != WARNED}


def reason_text(rule: str | None, variable: str | None, reason: str | None) -> str:
    """The reason column of the summary: ``[rule] variable reason``."""
    return " ".join(x for x in (f"[{rule}]" if rule else "", variable or "", reason or "") if x)


def verdict_line(item: HeldBackItem) -> str:
    """The summary's line for one treatment that needs the team: number, state, reason."""
    from spor.build.identity import mask_person_ids

    return mask_person_ids(f"{item.behandlingsnummer:<12} {_state(item):<17} "
                           f"{reason_text(item.rule, item.variable, item.reason)}")


def _state(item: HeldBackItem) -> str:
    return getattr(item.state, "value", item.state)
