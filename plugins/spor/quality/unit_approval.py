"""Per unit: what one stage run showed, and whether the unit is ready to ask UCR for production.

UCR approves a unit (enhet, sending as its SystemId) for production once stage shows that its
upload, its variable mapping and its data quality work. The evidence of one run is a
``UnitNight`` per unit: how many of its registrations were checked and sent, SPOR's answers (only
answers), what was held back before sending (by state), the gate's verdicts by rule, and which
of the guide's trigger variables its data carries. ``readiness`` reads the unit's nights newest
first and says, in words, whether it is ready and if not what is missing.

Ready means: the last ``NIGHTS_FOR_APPROVAL`` stage nights in which the unit sent anything each
had SPOR's answers and not one rejected or malformed answer, and over those nights the unit's
data carried every trigger variable (request time, patient time start, patient out of postop).
Held-back registrations and gate warnings are shown but do not block: they never reached SPOR
and are the team's to fix. Only counts and treatment numbers are kept here, never a value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from spor.lifecycle import ACCEPTED, FINAL_ANSWERS, HELD_BACK, State

#: Consecutive clean stage nights a unit needs before it asks UCR for production.
NIGHTS_FOR_APPROVAL = 3
#: The guide's export triggers a unit's data must show (variable number -> what it is).
TRIGGER_VARIABLES: dict[str, str] = {
    "310": "request time (op-anmälan)",
    "540": "patient time start",
    "800": "patient out of postop",
}
_ANSWERS = tuple(sorted(s.value for s in FINAL_ANSWERS))
_HELD_BACK = tuple(sorted(s.value for s in HELD_BACK))
_NOT_ACCEPTED = (State.REJECTED.value, State.MALFORMED.value)


@dataclass
class UnitNight:
    """One unit in one run against stage."""

    enhet: str
    run_id: str
    system_ids: list[str] = field(default_factory=list)
    checked: int = 0
    sent: int = 0
    answers: dict[str, int] = field(default_factory=dict)
    held_back: dict[str, int] = field(default_factory=dict)
    gate_by_rule: dict[str, int] = field(default_factory=dict)
    triggers_carried: list[str] = field(default_factory=list)
    coverage: list[dict[str, Any]] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return sum(self.answers.get(s.value, 0) for s in ACCEPTED)

    @property
    def not_accepted(self) -> int:
        return sum(self.answers.get(s, 0) for s in _NOT_ACCEPTED)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UnitNight:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class Readiness:
    ready: bool
    clean_nights: int
    reasons: list[str]

    def sentence(self) -> str:
        if self.ready:
            return (f"Ready to ask UCR for production: {self.clean_nights} stage nights in a row without a "
                    "rejected or malformed answer, and every trigger variable carried.")
        return "Not ready yet: " + "; ".join(self.reasons) + "."


def unit_nights(run_id: str, by_unit: Mapping[str, Mapping[str, Any]], verdicts: Iterable[Sequence[Any]],
                answers: Mapping[str, tuple[str, str]], held_back: Mapping[str, str]) -> list[UnitNight]:
    """One ``UnitNight`` per unit of the run.

    ``by_unit``: per enhet its checked treatment numbers and mapping coverage (kept by the gate);
    ``verdicts``: the gate's (behandlingsnummer, rule, severity, …) rows; ``answers``: per
    behandlingsnummer SPOR's final answer in this run as (system_id, state); ``held_back``: per
    behandlingsnummer the held-back state of this run."""
    rules: dict[str, set[tuple[str, str]]] = {}
    for verdict in verdicts:
        number, rule = str(verdict[0]), str(verdict[1])
        rules.setdefault(number, set()).add((rule, str(verdict[2])))
    nights = []
    for enhet, unit in sorted(by_unit.items()):
        numbers = [str(n) for n in unit.get("numbers", [])]
        night = UnitNight(enhet=enhet, run_id=run_id, checked=len(numbers), coverage=list(unit.get("coverage", [])))
        system_ids: set[str] = set()
        for number in numbers:
            if number in answers:
                system_id, state = answers[number]
                system_ids.add(system_id)
                night.answers[state] = night.answers.get(state, 0) + 1
                night.sent += 1
            if number in held_back:
                night.held_back[held_back[number]] = night.held_back.get(held_back[number], 0) + 1
            for rule, severity in rules.get(number, ()):
                key = f"{rule} ({severity})"
                night.gate_by_rule[key] = night.gate_by_rule.get(key, 0) + 1
        night.system_ids = sorted(system_ids)
        carried = {str(r["number"]) for r in night.coverage if r.get("number") and r.get("carried")}
        night.triggers_carried = sorted(v for v in TRIGGER_VARIABLES if v in carried)
        night.gate_by_rule = dict(sorted(night.gate_by_rule.items()))
        nights.append(night)
    return nights


def readiness(nights_newest_first: Sequence[UnitNight], needed: int = NIGHTS_FOR_APPROVAL) -> Readiness:
    """Whether a unit is ready to ask UCR for production, from its stage nights, newest first.
    Nights in which the unit sent nothing are skipped: they neither count nor break the row."""
    sending = [n for n in nights_newest_first if n.sent]
    clean: list[UnitNight] = []
    for night in sending:
        if night.not_accepted:
            break
        clean.append(night)
    reasons = []
    if not sending:
        reasons.append("nothing of this unit has been sent to stage yet")
    elif len(clean) < needed:
        latest_bad = next((n for n in sending if n.not_accepted), None)
        reasons.append(f"{len(clean)} of {needed} stage nights in a row without a rejected or malformed answer")
        if latest_bad is not None:
            bad = ", ".join(f"{latest_bad.answers[s]} {s}" for s in _NOT_ACCEPTED if latest_bad.answers.get(s))
            reasons.append(f"run {latest_bad.run_id} had {bad} (the register's Fellista and "
                           "Avvisade registreringar say why)")
    window = clean[:needed]
    carried = {v for n in window for v in n.triggers_carried}
    missing = [f"V{v} {TRIGGER_VARIABLES[v]}" for v in TRIGGER_VARIABLES if v not in carried]
    if sending and missing:
        reasons.append("no registration carried " + ", ".join(missing))
    return Readiness(ready=not reasons, clean_nights=len(clean), reasons=reasons)


def answer_states() -> tuple[str, ...]:
    """The states that are SPOR's answers (the report lists nothing else as an answer)."""
    return _ANSWERS


def held_back_states() -> tuple[str, ...]:
    return _HELD_BACK
