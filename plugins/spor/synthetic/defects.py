"""The defects a synthetic data set carries on purpose, and what the pipeline must make of each.

``EXPECTED`` says, per defect, how building the treatment must end: not buildable or identity
unknown with the rule and the variable the builder names, or ``None`` for the rules SPOR applies
after accepting a message (D1, D2, D3): those treatments are built and sent, and the quality
gate reports them. ``DEFECT_SHARE`` is the exact share of treatments given each defect.

``inject_value_defects`` makes the row and child codes of a treatment wrong in the way its
defects say. Identity defects (a wrong check digit, a reservnummer) are made when identity
numbers are drawn, and unit mapping when the unit is chosen (``spor.synthetic.planner``).
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import TYPE_CHECKING, Any

from spor.synthetic.catalogue import BAD_KVA_CODES
from spor.synthetic.times import minutes

if TYPE_CHECKING:
    from spor.synthetic.planner import TreatmentPlan

#: defect id -> expected outcome when the treatment is built. None = buildable (quality gate).
EXPECTED: dict[str, dict[str, str] | None] = {
    # D17: variable is the list holding the bad code (operationskod or preliminar_operationskod)
    "D17": {"state": "not_buildable", "rule": "D17", "variable": "operationskod"},
    "D15": {"state": "not_buildable", "rule": "D15", "variable": "personnummer"},
    "identity-unknown": {"state": "identity_unknown", "rule": "D15", "variable": "personnummer"},
    "unit-mapping": {"state": "not_buildable", "rule": "unit-mapping", "variable": "system_id"},
    "D11": {"state": "not_buildable", "rule": "D11", "variable": "operationskod"},
    "mandatory-V310": {"state": "not_buildable", "rule": "mandatory", "variable": "v310"},
    "D5": {"state": "not_buildable", "rule": "D5", "variable": "v445"},
    "D13": {"state": "not_buildable", "rule": "D13", "variable": "v440"},
    "D1": None,
    "D2": None,
    "D3": None,
}
DEFECTS = tuple(EXPECTED)

# Share of n per defect (exact counts: round(n * share)).
DEFECT_SHARE = {
    "D17": 0.010, "D15": 0.008, "identity-unknown": 0.010, "unit-mapping": 0.006, "D11": 0.006,
    "mandatory-V310": 0.006, "D5": 0.006, "D13": 0.005, "D1": 0.008, "D2": 0.010, "D3": 0.005,
}


def _recorded(t: dict[str, datetime | None], column: str, defect: str) -> datetime:
    value = t[column]
    if value is None:  # pragma: no cover - the planner gives these defects to performed treatments only
        raise AssertionError(f"{defect} needs {column}")
    return value


def inject_value_defects(p: TreatmentPlan, rng: random.Random, row: dict[str, Any],
                         kids: list[tuple[str, str, Any, int, str]], t: dict[str, datetime | None]) -> None:
    """Change ``row``, ``kids`` and the times ``t`` in place as the treatment's defects say.

    D11 (no operation code) is not made here: the rows are made without codes. For D17 the plan
    learns which list holds the bad code, for the manifest."""
    if "D17" in p.defects:
        bad = rng.choice(BAD_KVA_CODES)
        codes = [k for k in kids if k[0] == "spor_operationskod"]
        target = codes[-1] if codes else None
        if target is None:  # pragma: no cover - every non-D11 treatment has a code
            raise AssertionError("D17 needs an operation code")
        kids[kids.index(target)] = target[:4] + (bad,)
        p.d17_column = "preliminar_operationskod" if target[2] == "preliminar" else "operationskod"
    if "D1" in p.defects:
        t["v570"] = _recorded(t, "v565", "D1") - minutes(rng, 5, 60)
    if "D2" in p.defects:
        t["v310"] = _recorded(t, "v565", "D2") + minutes(rng, 5, 240)
        for k in ("v410", "v435"):  # keep other plausibility rules quiet: only D2 is wrong here
            t.pop(k, None)
    if "D3" in p.defects:
        t["v567"] = _recorded(t, "v565", "D3") - minutes(rng, 2, 30)
    if "mandatory-V310" in p.defects:
        t["v310"] = None
    if "D5" in p.defects:
        row["v445"] = None
    if "D13" in p.defects:
        row["v440"], row["v445"] = "12", "12a"
