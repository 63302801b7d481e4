"""Who is who in a synthetic data set: the plan of every treatment, drawn from the seed.

``plan_treatments(n, seed, start, days)`` decides, before any row exists, which treatments
share a patient, which are blocked (a whole patient on the block list, one treatment on it, or
a patient who does not take part), which carry which defect and feature, and each treatment's
scenario, unit, acute flag, identity number and last-changed time. Defects and features get
exact counts (``round(n * share)``) on distinct treatments, and a few blocked treatments carry a
defect too: they must still be neither built nor reported. It also returns the block-list rows.

Every draw comes from one ``random.Random(seed)`` in a fixed order, so the same arguments give
the same plan; the values of the rows come from a second stream (``spor.synthetic.rows``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from spor.synthetic.catalogue import (
    BLOCK_SHARE,
    DEFAULT_UNITS,
    FEATURE_SHARE,
    NEEDS,
    PERFORMED,
    SCENARIO_WEIGHTS,
    UNMAPPED_UNITS,
)
from spor.synthetic.defects import DEFECT_SHARE
from spor.synthetic.identities import Identities

_ORSAK = ("patientens begäran", "patienten vill inte delta")
_KANAL = ("muntligt vid besök", "brev", "telefon", "1177 meddelande")


@dataclass
class TreatmentPlan:
    """One treatment as planned: what it is and what is wrong with it, before its rows are made."""

    bnr: str
    scenario: str
    akut: bool
    enhet: str
    personnummer: str
    andrad: datetime
    features: list[str] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    blocked: str | None = None
    d17_column: str = "operationskod"  # which list holds the bad KVÅ code (set when rows are made)


def plan_treatments(n: int, seed: int, start: date, days: int) -> tuple[list[TreatmentPlan], list[dict[str, Any]]]:
    """The plans of n treatments (behandlingsnummer 3000001 up) and the block-list rows."""
    rng = random.Random(seed)
    ids = Identities(rng)
    count = lambda share: int(round(n * share))  # noqa: E731 - a one-line helper beside the table it serves
    bnrs = [str(3_000_001 + i) for i in range(n)]
    order = list(range(n))
    rng.shuffle(order)
    pos = 0

    def take(k: int) -> list[int]:
        nonlocal pos
        chosen = order[pos:pos + k]
        pos += len(chosen)
        return chosen

    kind: dict[int, dict[str, Any]] = {i: {"defects": [], "features": [], "blocked": None} for i in range(n)}
    # Identity defects get their own patients.
    for i in take(count(DEFECT_SHARE["identity-unknown"])):
        kind[i]["defects"].append("identity-unknown")
    for i in take(count(DEFECT_SHARE["D15"])):
        kind[i]["defects"].append("D15")
    own_patient = set(order[:pos])
    rest = order[pos:]
    # Group the rest into patients: most have one treatment, some two or three.
    patients: list[list[int]] = []
    j = 0
    while j < len(rest):
        size = 1 if rng.random() < 0.85 else rng.choice((2, 3))
        patients.append(rest[j:j + size])
        j += size
    # Whole-patient blocks: pick patients until the share is reached (several multi-treatment).
    want = count(BLOCK_SHARE["sparrlista-patient"])
    blocked_patients: list[int] = []
    got = 0
    for pi in rng.sample(range(len(patients)), len(patients)):
        if got >= want:
            break
        if got + len(patients[pi]) > want:
            continue
        blocked_patients.append(pi)
        got += len(patients[pi])
    for pi in blocked_patients:
        for i in patients[pi]:
            kind[i]["blocked"] = "sparrlista-patient"
    free = [i for i in rest if kind[i]["blocked"] is None]
    rng.shuffle(free)
    fpos = 0

    def take_free(k: int) -> list[int]:
        nonlocal fpos
        chosen = free[fpos:fpos + k]
        fpos += len(chosen)
        return chosen

    for reason in ("sparrlista-treatment", "deltar-ej"):
        for i in take_free(count(BLOCK_SHARE[reason])):
            kind[i]["blocked"] = reason
    # A few blocked treatments also carry a defect: they must still never be reported.
    blocked_any = [i for i in range(n) if kind[i]["blocked"]]
    for i in blocked_any[: max(0, min(3, len(blocked_any) // 10))]:
        kind[i]["defects"].append("D17")
    for d in ("D17", "unit-mapping", "D11", "mandatory-V310", "D5", "D13", "D1", "D2", "D3"):
        for i in take_free(count(DEFECT_SHARE[d])):
            kind[i]["defects"].append(d)
    for f in ("dst-spring", "dst-autumn", "level3-reason"):
        for i in take_free(count(FEATURE_SHARE[f])):
            kind[i]["features"].append(f)
    # Samordningsnummer: a share of patients (any kind except the identity-defect ones).
    samordning = set(rng.sample(range(len(patients)), min(len(patients), count(FEATURE_SHARE["samordningsnummer"]))))

    scen_names = list(SCENARIO_WEIGHTS)
    scen_w = list(SCENARIO_WEIGHTS.values())
    plans: list[TreatmentPlan | None] = [None] * n
    person_of: dict[int, tuple[str, bool]] = {}
    for pi, members in enumerate(patients):
        sam = pi in samordning
        pnr = ids.person(samordning=sam)
        for i in members:
            person_of[i] = (pnr, sam)
    for i in own_patient:
        if "identity-unknown" in kind[i]["defects"]:
            person_of[i] = (ids.reservnummer(), False)
        else:
            person_of[i] = (ids.person(wrong_check=True), False)

    span = days * 86400
    for i in range(n):
        k = kind[i]
        needs = [NEEDS[x] for x in k["defects"] + k["features"] if x in NEEDS]
        allowed = scen_names if not needs else [s for s in scen_names if all(s in nd for nd in needs)]
        weights = [scen_w[scen_names.index(s)] for s in allowed]
        scenario = rng.choices(allowed, weights)[0]
        features = list(k["features"])
        if scenario == "cancelled-unplanned" and not k["defects"] and rng.random() < 0.3:
            features.append("no-prelim-code-zxf99")
        pnr, sam = person_of[i]
        if sam:
            features.append("samordningsnummer")
        akut_share = 0.45 if scenario in PERFORMED else 0.15
        akut = rng.random() < akut_share
        if any(f in features for f in ("dst-spring", "dst-autumn")):
            akut = True
        if "D2" in k["defects"]:
            akut = rng.random() < 0.5  # D2 on elective and on acute operations
        enhet = rng.choice(UNMAPPED_UNITS) if "unit-mapping" in k["defects"] else rng.choice(tuple(DEFAULT_UNITS))
        andrad = datetime.combine(start, datetime.min.time()) + timedelta(seconds=rng.randrange(span))
        plans[i] = TreatmentPlan(bnrs[i], scenario, akut, enhet, pnr, andrad, features, list(k["defects"]), k["blocked"])

    # Block list rows: one per blocked patient and per blocked treatment.
    sparr: list[dict[str, Any]] = []
    for pi in blocked_patients:
        first = plans[patients[pi][0]]
        assert first is not None
        sparr.append({"personnummer": first.personnummer, "behandlingsnummer": None})
    for i in range(n):
        p = plans[i]
        assert p is not None
        if p.blocked == "sparrlista-treatment":
            sparr.append({"personnummer": p.personnummer, "behandlingsnummer": p.bnr})
    if sparr and sparr[0]["behandlingsnummer"] is None:
        # One entry written the way people type it: the filter normalises to 12 digits.
        v = sparr[0]["personnummer"]
        sparr[0]["personnummer"] = f"{v[:8]}-{v[8:]}"
    for idx, s in enumerate(sparr):
        s.update(id=idx + 1, orsak=rng.choice(_ORSAK), kanal=rng.choice(_KANAL),
                 datum=(start - timedelta(days=rng.randint(0, 400))).isoformat())
    return [p for p in plans if p is not None], sparr
