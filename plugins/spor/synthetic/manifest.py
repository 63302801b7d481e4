"""The manifest of a synthetic data set: which treatment is what, and what must become of it.

The manifest is written as JSON (``format: "spor-synthetic-manifest/1"``, layout in
``spor.synthetic``) next to a file-based SQLite database or where the caller asks. It never holds
an identity number. ``Manifest`` answers the questions tests ask: what ``render --all`` must
write, what is blocked, which treatments the builder must refuse and with which rule.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spor.synthetic.catalogue import TIME_FORMAT
from spor.synthetic.defects import EXPECTED

if TYPE_CHECKING:
    from spor.synthetic.planner import TreatmentPlan

__all__ = ["MANIFEST_FORMAT", "Manifest", "ManifestEntry", "manifest_entry"]

MANIFEST_FORMAT = "spor-synthetic-manifest/1"


@dataclass
class ManifestEntry:
    """One treatment in the manifest; never holds an identity number."""

    scenario: str
    akut: bool
    enhet: str
    andrad_tid: str
    features: list[str] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    blocked: str | None = None
    buildable: bool = True
    expected: dict[str, str] | None = None


@dataclass
class Manifest:
    """What a generated data set holds, treatment by treatment; answers the questions tests ask."""

    seed: int
    n: int
    start: str
    days: int
    units: dict[str, str]
    unmapped_units: list[str]
    treatments: dict[str, ManifestEntry]

    # --- questions tests ask -------------------------------------------------------------
    def expected_rendered(self) -> set[str]:
        """Buildable and not blocked: exactly what `render --all` must write."""
        return {b for b, e in self.treatments.items() if e.buildable and e.blocked is None}

    def blocked(self) -> dict[str, str]:
        return {b: e.blocked for b, e in self.treatments.items() if e.blocked}

    def not_buildable(self) -> dict[str, dict[str, str]]:
        """Unblocked treatments the builder must refuse, with the expected state/rule/variable."""
        return {b: e.expected for b, e in self.treatments.items() if e.blocked is None and not e.buildable and e.expected}

    def with_defect(self, defect: str, *, include_blocked: bool = False) -> set[str]:
        return {b for b, e in self.treatments.items() if defect in e.defects and (include_blocked or e.blocked is None)}

    def with_feature(self, feature: str) -> set[str]:
        return {b for b, e in self.treatments.items() if feature in e.features}

    def with_scenario(self, scenario: str) -> set[str]:
        return {b for b, e in self.treatments.items() if e.scenario == scenario}

    def counts(self) -> dict[str, Any]:
        es = self.treatments.values()
        return {
            "scenario": dict(sorted(Counter(e.scenario for e in es).items())),
            "defect": dict(sorted(Counter(d for e in es for d in e.defects).items())),
            "feature": dict(sorted(Counter(f for e in es for f in e.features).items())),
            "blocked": dict(sorted(Counter(e.blocked for e in es if e.blocked).items())),
            "rendered": len(self.expected_rendered()),
        }

    # --- JSON ----------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "format": MANIFEST_FORMAT,
            "seed": self.seed, "n": self.n, "start": self.start, "days": self.days,
            "units": self.units, "unmapped_units": self.unmapped_units,
            "treatments": {b: e.__dict__ for b, e in self.treatments.items()},
            "counts": self.counts(),
        }

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), ensure_ascii=False, indent=1), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Manifest:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"not a {MANIFEST_FORMAT} file")
        return cls(
            seed=data["seed"], n=data["n"], start=data["start"], days=data["days"],
            units=data["units"], unmapped_units=data["unmapped_units"],
            treatments={b: ManifestEntry(**e) for b, e in data["treatments"].items()},
        )


def manifest_entry(p: TreatmentPlan) -> ManifestEntry:
    """What the manifest says of one planned treatment (after its rows are made: D17 names its list)."""
    failing = [(d, e) for d in p.defects if (e := EXPECTED[d]) is not None]
    if len(failing) > 1:  # pragma: no cover - the planner gives one build defect per treatment
        raise AssertionError("one build defect per treatment")
    expected = dict(failing[0][1]) if failing else None
    if expected and failing[0][0] == "D17":
        expected["variable"] = p.d17_column
    return ManifestEntry(
        scenario=p.scenario, akut=p.akut, enhet=p.enhet, andrad_tid=p.andrad.strftime(TIME_FORMAT),
        features=sorted(p.features), defects=sorted(p.defects), blocked=p.blocked,
        buildable=not failing, expected=expected,
    )
