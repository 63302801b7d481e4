"""Deterministic synthetic OPS data in the source contract, with a manifest of what is in it.

``generate(target, n=3000, seed=1, start=date(2025, 11, 1), days=30) -> Manifest`` fills the
contract (sql/contract/*.sql, applied if missing) in SQLite or PostgreSQL. The same arguments
always give the same rows and the same manifest. CLI:
``python -m spor synth --db URL --n N --seed S [--start YYYY-MM-DD] [--days D] [--manifest PATH]``.

Identity numbers are generated (valid dates, Luhn, samordningsnummer day + 60); they belong to
nobody. Reservnummer follow Region Stockholm's shape ``99yyyyNNNNNC``.

Manifest format (JSON, ``format: "spor-synthetic-manifest/1"``; never holds an identity number)::

    {"format": "spor-synthetic-manifest/1", "seed": 1, "n": 5000, "start": "2025-11-01", "days": 30,
     "units": {"OP-A": "SE2321000016-OPA1", ...},      # the unit -> SystemId mapping to use
     "unmapped_units": ["OP-X"],                          # deliberately missing from "units"
     "treatments": {
       "<behandlingsnummer>": {
         "scenario": "performed-postop",   # see SCENARIOS
         "akut": true, "enhet": "OP-A",
         "andrad_tid": "2025-11-03 14:05:00",              # last-changed, Stockholm wall-clock
         "features": ["samordningsnummer", "dst-spring"],  # see FEATURES: legal but special
         "defects": ["D1"],                                 # see DEFECTS: rule ids of bad data
         "blocked": null,                  # or "sparrlista-patient" | "sparrlista-treatment" | "deltar-ej"
         "buildable": true,                # would the builder produce a message (ignoring blocks)?
         "expected": null                  # not buildable: {"state": "not_buildable"|"identity_unknown",
       }                                   #                  "rule": "D17", "variable": "operationskod"}
     },
     "counts": {"scenario": {...}, "defect": {...}, "blocked": {...}, "feature": {...},
                "rendered": N}}           # rendered = buildable and not blocked

Defects D1, D2, D3 are rules SPOR applies after accepting a message: such treatments are
buildable (the quality gate reports them). A blocked treatment may still carry a defect: it must
be neither built nor reported.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Iterable, Mapping

from spor.build.identity import luhn_check_digit

__all__ = [
    "DEFAULT_UNITS",
    "UNMAPPED_UNITS",
    "SCENARIOS",
    "DEFECTS",
    "FEATURES",
    "BLOCK_REASONS",
    "EXPECTED",
    "Manifest",
    "ManifestEntry",
    "generate",
]

MANIFEST_FORMAT = "spor-synthetic-manifest/1"
DEFAULT_UNITS: dict[str, str] = {
    "OP-A": "SE2321000016-OPA1",
    "OP-B": "SE2321000016-OPB1",
    "OP-C": "SE2321000016-OPC1",
}
UNMAPPED_UNITS = ("OP-X",)

SCENARIOS = (
    "request-only",          # only the anmälan (R7)
    "planned",               # anmälan + planering with minimum planning (R9)
    "planned-below-minimum", # planering without an end time: counts as request only (R9)
    "cancelled-unplanned",   # strykning of a never-planned request (R8)
    "cancelled-planned",     # strykning of a planned operation (R10)
    "performed",             # genomförande, patient did not go to postop
    "performed-postop",      # genomförande + postop
)
FEATURES = (
    "samordningsnummer",     # valid samordningsnummer (day + 60)
    "dst-spring",            # times in/around the spring gap night
    "dst-autumn",            # times in/around the repeated autumn hour
    "level3-reason",         # local level-3 cancellation reason: sent as its level-2 parent (D13)
    "no-prelim-code-zxf99",  # cancellation without operation code: builder adds ZXF99 (D10)
)
BLOCK_REASONS = ("sparrlista-patient", "sparrlista-treatment", "deltar-ej")

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

# Share of n per special kind (exact counts: round(n * share)).
_BLOCK_SHARE = {"sparrlista-patient": 0.010, "sparrlista-treatment": 0.006, "deltar-ej": 0.008}
_DEFECT_SHARE = {
    "D17": 0.010, "D15": 0.008, "identity-unknown": 0.010, "unit-mapping": 0.006, "D11": 0.006,
    "mandatory-V310": 0.006, "D5": 0.006, "D13": 0.005, "D1": 0.008, "D2": 0.010, "D3": 0.005,
}
_FEATURE_SHARE = {"samordningsnummer": 0.04, "dst-spring": 0.003, "dst-autumn": 0.003, "level3-reason": 0.005}
_SCENARIO_WEIGHTS = {
    "request-only": 15, "planned": 20, "planned-below-minimum": 3, "cancelled-unplanned": 6,
    "cancelled-planned": 6, "performed": 15, "performed-postop": 35,
}
# Which scenarios a defect/feature can live in.
_PERFORMED = ("performed", "performed-postop")
_CANCELLED = ("cancelled-unplanned", "cancelled-planned")
_NEEDS = {
    "D1": _PERFORMED, "D2": _PERFORMED, "D3": _PERFORMED, "D5": _CANCELLED, "D13": _CANCELLED,
    "level3-reason": _CANCELLED, "D11": ("request-only", "planned", "performed-postop"),
    "dst-spring": ("performed-postop",), "dst-autumn": ("performed-postop",),
}

_KVA = ("JAB30", "JEA00", "JKA21", "NFB49", "NGB49", "NFJ59", "CJE20", "KAS00", "LCD11", "PAH10", "JDF10", "QDB99")
_BAD_KVA = ("H-CAR", "J4B30", "AB1234", "1AB23", "HCAR")
_ANESTESI = ("ZXA10", "ZXB10", "ZXC10", "ZXD10", "ZXK15")
_ICD = ("K35.8", "K80.2", "M17.1", "S72.0", "C18.7", "N20.0", "K40.9", "M16.1", "H25.9", "O82.9")
_KOMPLIKATION = ("OP3.1", "OP7.2", "UVA2.4", "UVA5.1")
_CANCEL = (("1", "1a"), ("4", "4d"), ("7", "7a"), ("8", "8B"), ("11", "11C"))
_ORSAK = ("patientens begäran", "patienten vill inte delta")
_KANAL = ("muntligt vid besök", "brev", "telefon", "1177 meddelande")
_FMT = "%Y-%m-%d %H:%M:%S"


@dataclass
class ManifestEntry:
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
    def load(cls, path: str | Path) -> "Manifest":
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"not a {MANIFEST_FORMAT} file")
        return cls(
            seed=data["seed"], n=data["n"], start=data["start"], days=data["days"],
            units=data["units"], unmapped_units=data["unmapped_units"],
            treatments={b: ManifestEntry(**e) for b, e in data["treatments"].items()},
        )


# --- identity numbers ----------------------------------------------------------------------
def _luhn(digits: str) -> str:
    # Luhn with weight 2 on the rightmost payload digit (= weights 2,1,2.. from the left when
    # the payload length is odd, as for YYMMDDNNN).
    total = 0
    for i, ch in enumerate(reversed(digits)):
        v = int(ch) * (2 if i % 2 == 0 else 1)
        total += v - 9 if v > 9 else v
    return str((10 - total % 10) % 10)


class _Identities:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.used: set[str] = set()

    def _birth(self) -> date:
        return date(1930, 1, 1) + timedelta(days=self.rng.randrange(0, 33000))

    def _unique(self, make) -> str:
        while True:
            value = make()
            if value not in self.used:
                self.used.add(value)
                return value

    def person(self, *, samordning: bool = False, wrong_check: bool = False) -> str:
        def make() -> str:
            b = self._birth()
            day = b.day + 60 if samordning else b.day
            nine = f"{b.year % 100:02d}{b.month:02d}{day:02d}{self.rng.randrange(1, 1000):03d}"
            check = luhn_check_digit(nine)
            if wrong_check:
                check = str((int(check) + self.rng.randrange(1, 10)) % 10)
            return f"{b.year // 100:02d}{nine}{check}"

        return self._unique(make)

    def reservnummer(self) -> str:
        def make() -> str:
            body = f"{self.rng.randrange(1930, 2024):04d}{self.rng.randrange(0, 100000):05d}"
            return "99" + body + _luhn(body[2:])  # Luhn over positions 5-11

        return self._unique(make)


# --- time helpers --------------------------------------------------------------------------
def _last_sunday(year: int, month: int) -> date:
    d = date(year, month + 1, 1) - timedelta(days=1)
    return d - timedelta(days=(d.weekday() - 6) % 7)


def _dst_dates(year: int) -> tuple[date, date]:
    return _last_sunday(year, 3), _last_sunday(year, 10)


def _touches_dst_hour(times: Iterable[datetime | None]) -> bool:
    for t in times:
        if t is not None and t.hour == 2 and t.date() in _dst_dates(t.year):
            return True
    return False


def _fmt(t: datetime | None) -> str | None:
    return None if t is None else t.strftime(_FMT)


# --- one treatment -------------------------------------------------------------------------
@dataclass
class _Plan:
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


def _minutes(rng: random.Random, lo: int, hi: int) -> timedelta:
    return timedelta(minutes=rng.randint(lo, hi))


def _timeline(p: _Plan, rng: random.Random, start: date) -> dict[str, datetime | None]:
    """Wall-clock times for the scenario, all before the last-changed time."""
    t: dict[str, datetime | None] = {}
    last = p.andrad - _minutes(rng, 5, 600)
    performed = p.scenario in _PERFORMED
    if "dst-spring" in p.features or "dst-autumn" in p.features:
        spring, autumn = _dst_dates(start.year)
        if "dst-spring" in p.features:  # 02:20 does not exist; order holds under any reading
            night = spring if spring < start else _dst_dates(start.year - 1)[0]
            base = datetime.combine(night, datetime.min.time())
            t.update(v565=base.replace(hour=1, minute=10), v570=base.replace(hour=2, minute=20),
                     v585=base.replace(hour=3, minute=40), v800=base.replace(hour=5, minute=5))
        else:  # 02:30 happens twice; order holds for either occurrence
            night = autumn if autumn < start else _dst_dates(start.year - 1)[1]
            base = datetime.combine(night, datetime.min.time())
            t.update(v565=base.replace(hour=1, minute=30), v570=base.replace(hour=2, minute=30),
                     v585=base.replace(hour=3, minute=30), v800=base.replace(hour=4, minute=45))
        t["v567"] = t["v565"] + timedelta(minutes=4)
        t["v540"] = t["v565"] - timedelta(minutes=20)
        t["v310"] = t["v540"] - timedelta(hours=5, minutes=12)
        return t
    if performed:
        v800 = last if p.scenario == "performed-postop" else None
        v585 = (v800 - _minutes(rng, 30, 180)) if v800 else last
        v570 = v585 - _minutes(rng, 5, 30)
        v565 = v570 - _minutes(rng, 20, 240)
        t.update(v800=v800, v585=v585, v570=v570, v565=v565,
                 v540=v565 - _minutes(rng, 10, 45))
        if rng.random() < 0.6:
            t["v567"] = v565 + _minutes(rng, 1, 15)
        if p.akut:
            t["v310"] = v565 - _minutes(rng, 60, 24 * 60)
            if rng.random() < 0.5:
                t["v410"] = t["v310"] + _minutes(rng, 5, 30)
                t["v420"] = v565 - _minutes(rng, 0, 30)
                t["v425"] = t["v420"] + _minutes(rng, 30, 120)
        else:
            v420 = (v565 + _minutes(rng, -30, 30)).replace(second=0)
            t.update(v420=v420, v415=v420 - timedelta(minutes=20), v425=v420 + _minutes(rng, 30, 180))
            t["v430"] = t["v425"] + timedelta(minutes=20)
            t["v410"] = v420 - timedelta(days=rng.randint(3, 90), minutes=rng.randint(0, 600))
            t["v435"] = t["v410"] + timedelta(hours=rng.randint(1, 48))
            t["v310"] = t["v410"] - timedelta(days=rng.randint(1, 120), minutes=rng.randint(0, 600))
        return t
    if p.scenario == "request-only":
        t["v310"] = last
        return t
    if p.scenario == "cancelled-unplanned":
        t["v310"] = last - timedelta(days=rng.randint(1, 60))
        return t
    # planned, planned-below-minimum, cancelled-planned: planning done at `last`, op in the future
    t["v410"] = last
    t["v310"] = last - timedelta(days=rng.randint(1, 60), minutes=rng.randint(0, 600))
    op_day = (last + timedelta(days=rng.randint(3, 90))).date()
    while op_day.weekday() >= 5:
        op_day += timedelta(days=1)
    v420 = datetime.combine(op_day, datetime.min.time()) + timedelta(hours=7, minutes=30 + 15 * rng.randint(0, 28))
    t["v415"] = v420 - timedelta(minutes=20)
    if p.scenario != "planned-below-minimum":
        t["v420"] = v420
        t["v425"] = v420 + _minutes(rng, 30, 180)
        t["v430"] = t["v425"] + timedelta(minutes=20)
        t["v435"] = last + timedelta(hours=rng.randint(1, 48))
    return t


def _row_and_children(p: _Plan, rng: random.Random, start: date) -> tuple[dict[str, Any], list[tuple[str, str, Any, int, str]]]:
    t = _timeline(p, rng, start)
    row: dict[str, Any] = {
        "behandlingsnummer": p.bnr, "enhet": p.enhet, "personnummer": p.personnummer,
        "deltar_ej": 1 if p.blocked == "deltar-ej" else 0,
        "akut": 1 if p.akut else 0,
        "akut_prioritet": rng.choice(("0", "2", "6", "24")) if p.akut else None,
        "v335": rng.choice(("1", "2", "2", "3")) if rng.random() < 0.8 else None,
        "andrad_tid": p.andrad.strftime(_FMT),
    }
    kids: list[tuple[str, str, Any, int, str]] = []  # (table, bnr, typ/fas/None, ordning, kod)
    performed = p.scenario in _PERFORMED
    no_codes = "D11" in p.defects or "no-prelim-code-zxf99" in p.features
    if not no_codes:
        for i in range(rng.choice((1, 1, 1, 2))):
            kids.append(("spor_operationskod", p.bnr, "preliminar", i + 1, rng.choice(_KVA)))
    for i in range(rng.choice((1, 1, 2))):
        kids.append(("spor_diagnos", p.bnr, None, i + 1, rng.choice(_ICD)))
    if performed:
        if "D11" not in p.defects:
            for i in range(rng.choice((1, 1, 2, 3))):
                kids.append(("spor_operationskod", p.bnr, "utford", i + 1, rng.choice(_KVA)))
        for i in range(rng.choice((1, 2))):
            kids.append(("spor_anestesiatgard", p.bnr, None, i + 1, rng.choice(_ANESTESI)))
        if rng.random() < 0.05:
            kids.append(("spor_komplikation", p.bnr, "perop", 1, rng.choice(_KOMPLIKATION[:2])))
        if p.scenario == "performed-postop" and rng.random() < 0.08:
            kids.append(("spor_komplikation", p.bnr, "postop", 1, rng.choice(_KOMPLIKATION[2:])))
        row.update(asa=rng.choice("11222334"), operator_hsaid=f"SE2321000016-{rng.randrange(16**4):04X}",
                   v675=round(rng.uniform(35.5, 37.5), 1), v676=round(rng.uniform(35.5, 37.5), 1) if rng.random() < 0.5 else None,
                   v690=rng.choice(("1", "2", "2", "3")))
        if p.scenario == "performed-postop":
            row.update(v810=rng.choice(("1", "2", "2", "4")), v875=round(rng.uniform(35.8, 37.6), 1))
    if p.scenario in _CANCELLED:
        typ, orsak = rng.choice(_CANCEL)
        if "level3-reason" in p.features:
            orsak = orsak + rng.choice(("i", "ii", "x"))  # local level 3 under its level-2 parent
        row.update(v440=typ, v445=orsak, v450=rng.choice((0, 1)))
    # --- defects that change values ---
    if "D17" in p.defects:
        bad = rng.choice(_BAD_KVA)
        codes = [k for k in kids if k[0] == "spor_operationskod"]
        target = codes[-1] if codes else None
        if target is None:  # pragma: no cover - every non-D11 treatment has a code
            raise AssertionError("D17 needs an operation code")
        kids[kids.index(target)] = target[:4] + (bad,)
        p.d17_column = "preliminar_operationskod" if target[2] == "preliminar" else "operationskod"
    if "D1" in p.defects:
        t["v570"] = t["v565"] - _minutes(rng, 5, 60)
    if "D2" in p.defects:
        t["v310"] = t["v565"] + _minutes(rng, 5, 240)
        for k in ("v410", "v435"):  # keep other plausibility rules quiet: only D2 is wrong here
            t.pop(k, None)
    if "D3" in p.defects:
        t["v567"] = t["v565"] - _minutes(rng, 2, 30)
    if "mandatory-V310" in p.defects:
        t["v310"] = None
    if "D5" in p.defects:
        row["v445"] = None
    if "D13" in p.defects:
        row["v440"], row["v445"] = "12", "12a"
    if "dst-spring" not in p.features and "dst-autumn" not in p.features:
        while _touches_dst_hour(t.values()):  # keep the DST cases exactly the counted ones
            t = {k: (v - timedelta(hours=3) if v else v) for k, v in t.items()}
    for k in ("v310", "v410", "v415", "v420", "v425", "v430", "v435", "v540", "v565", "v567", "v570", "v585", "v800"):
        row[k] = _fmt(t.get(k))
    return row, kids


# --- the whole data set ----------------------------------------------------------------------
def _plan(n: int, seed: int, start: date, days: int) -> tuple[list[_Plan], list[dict[str, Any]]]:
    rng = random.Random(seed)
    ids = _Identities(rng)
    count = lambda share: int(round(n * share))  # noqa: E731
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
    for i in take(count(_DEFECT_SHARE["identity-unknown"])):
        kind[i]["defects"].append("identity-unknown")
    for i in take(count(_DEFECT_SHARE["D15"])):
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
    want = count(_BLOCK_SHARE["sparrlista-patient"])
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
        for i in take_free(count(_BLOCK_SHARE[reason])):
            kind[i]["blocked"] = reason
    # A few blocked treatments also carry a defect: they must still never be reported.
    blocked_any = [i for i in range(n) if kind[i]["blocked"]]
    for i in blocked_any[: max(0, min(3, len(blocked_any) // 10))]:
        kind[i]["defects"].append("D17")
    for d in ("D17", "unit-mapping", "D11", "mandatory-V310", "D5", "D13", "D1", "D2", "D3"):
        for i in take_free(count(_DEFECT_SHARE[d])):
            kind[i]["defects"].append(d)
    for f in ("dst-spring", "dst-autumn", "level3-reason"):
        for i in take_free(count(_FEATURE_SHARE[f])):
            kind[i]["features"].append(f)
    # Samordningsnummer: a share of patients (any kind except the identity-defect ones).
    samordning = set(rng.sample(range(len(patients)), min(len(patients), count(_FEATURE_SHARE["samordningsnummer"]))))

    scen_names = list(_SCENARIO_WEIGHTS)
    scen_w = list(_SCENARIO_WEIGHTS.values())
    plans: list[_Plan | None] = [None] * n
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
        needs = [_NEEDS[x] for x in k["defects"] + k["features"] if x in _NEEDS]
        allowed = scen_names if not needs else [s for s in scen_names if all(s in nd for nd in needs)]
        weights = [scen_w[scen_names.index(s)] for s in allowed]
        scenario = rng.choices(allowed, weights)[0]
        features = list(k["features"])
        if scenario == "cancelled-unplanned" and not k["defects"] and rng.random() < 0.3:
            features.append("no-prelim-code-zxf99")
        pnr, sam = person_of[i]
        if sam:
            features.append("samordningsnummer")
        akut_share = 0.45 if scenario in _PERFORMED else 0.15
        akut = rng.random() < akut_share
        if any(f in features for f in ("dst-spring", "dst-autumn")):
            akut = True
        if "D2" in k["defects"]:
            akut = rng.random() < 0.5  # D2 on elective and on acute operations
        enhet = rng.choice(UNMAPPED_UNITS) if "unit-mapping" in k["defects"] else rng.choice(tuple(DEFAULT_UNITS))
        andrad = datetime.combine(start, datetime.min.time()) + timedelta(seconds=rng.randrange(span))
        plans[i] = _Plan(bnrs[i], scenario, akut, enhet, pnr, andrad, features, list(k["defects"]), k["blocked"])

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


def _entry(p: _Plan) -> ManifestEntry:
    failing = [d for d in p.defects if EXPECTED[d] is not None]
    if len(failing) > 1:  # pragma: no cover - the planner gives one build defect per treatment
        raise AssertionError("one build defect per treatment")
    expected = dict(EXPECTED[failing[0]]) if failing else None  # type: ignore[arg-type]
    if expected and failing[0] == "D17":
        expected["variable"] = p.d17_column
    return ManifestEntry(
        scenario=p.scenario, akut=p.akut, enhet=p.enhet, andrad_tid=p.andrad.strftime(_FMT),
        features=sorted(p.features), defects=sorted(p.defects), blocked=p.blocked,
        buildable=not failing, expected=expected,
    )


_COLUMNS = (
    "behandlingsnummer", "enhet", "personnummer", "deltar_ej", "akut", "akut_prioritet", "v310", "v335",
    "v410", "v415", "v420", "v425", "v430", "v435", "v440", "v445", "v450", "v540", "v565", "v567",
    "v570", "v585", "asa", "operator_hsaid", "v675", "v676", "v690", "v800", "v810", "v875", "andrad_tid",
)


def generate(
    target: Any,
    n: int = 3000,
    seed: int = 1,
    start: date = date(2025, 11, 1),
    days: int = 30,
    *,
    manifest_path: str | Path | None = None,
    replace: bool = False,
) -> Manifest:
    """Fill the source contract in ``target`` (SQLAlchemy URL or Engine) and return the manifest.

    The contract DDL is applied first (idempotent). The tables must be empty unless
    ``replace=True`` (then their rows are deleted first). The manifest is written to
    ``manifest_path`` when given, else next to a file-based SQLite database
    (``<db file>.manifest.json``).
    """
    import sqlalchemy as sa

    from spor.extract.contract import CONTRACT_TABLES, apply_contract, dialect_of, engine_for

    if n < 1 or days < 1:
        raise ValueError("n and days must be at least 1")
    engine = engine_for(target)
    apply_contract(engine)
    plans, sparr = _plan(n, seed, start, days)
    rng = random.Random(seed * 7919 + 17)  # values stream, independent of the planner's draws
    rows: list[dict[str, Any]] = []
    children: dict[str, list[dict[str, Any]]] = {t: [] for t in CONTRACT_TABLES[1:5]}
    for p in plans:
        row, kids = _row_and_children(p, rng, start)
        rows.append({c: row.get(c) for c in _COLUMNS})
        for table, bnr, sub, ordning, kod in kids:
            rec: dict[str, Any] = {"behandlingsnummer": bnr, "ordning": ordning, "kod": kod}
            if table == "spor_operationskod":
                rec["typ"] = sub
            elif table == "spor_komplikation":
                rec["fas"] = sub
            children[table].append(rec)

    def table(name: str, cols: Iterable[str]):
        return sa.table(name, *[sa.column(c) for c in cols])

    pg = dialect_of(engine) == "postgresql"
    with engine.begin() as conn:
        existing = conn.execute(sa.text("SELECT count(*) FROM spor_behandling")).scalar_one()
        if existing:
            if not replace:
                raise ValueError("the source contract tables are not empty (use replace=True / --replace)")
            for t in reversed(CONTRACT_TABLES):
                conn.execute(sa.text(f"DELETE FROM {t}"))
        conn.execute(sa.insert(table("spor_behandling", _COLUMNS)), rows)
        for t, recs in children.items():
            if recs:
                conn.execute(sa.insert(table(t, recs[0].keys())), recs)
        if sparr:
            conn.execute(sa.insert(table("spor_sparrlista", sparr[0].keys())), sparr)
        # Child inserts fired the last-changed triggers; put the planned andrad_tid back.
        kind = "timestamp" if pg else "text"
        conn.execute(sa.text(f"CREATE TEMPORARY TABLE spor_synth_andrad (behandlingsnummer varchar(64) PRIMARY KEY, andrad_tid {kind})"))
        conn.execute(sa.insert(table("spor_synth_andrad", ("behandlingsnummer", "andrad_tid"))),
                     [{"behandlingsnummer": r["behandlingsnummer"], "andrad_tid": r["andrad_tid"]} for r in rows])
        conn.execute(sa.text(
            "UPDATE spor_behandling SET andrad_tid = (SELECT a.andrad_tid FROM spor_synth_andrad a "
            "WHERE a.behandlingsnummer = spor_behandling.behandlingsnummer)"))
        conn.execute(sa.text("DROP TABLE spor_synth_andrad"))
        if pg:
            # identity column: keep later inserts by hand from colliding with generated ids
            conn.execute(sa.text("SELECT setval(pg_get_serial_sequence('spor_sparrlista', 'id'), "
                                 "coalesce((SELECT max(id) FROM spor_sparrlista), 0) + 1, false)"))

    manifest = Manifest(
        seed=seed, n=n, start=start.isoformat(), days=days, units=dict(DEFAULT_UNITS),
        unmapped_units=list(UNMAPPED_UNITS), treatments={p.bnr: _entry(p) for p in plans},
    )
    path = manifest_path
    if path is None and engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        path = f"{engine.url.database}.manifest.json"
    if path is not None:
        manifest.save(path)
    return manifest
