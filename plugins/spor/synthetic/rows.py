"""The rows of one planned treatment: its times and values in the source contract's columns.

``row_and_children(plan, rng, start)`` makes the spor_behandling row and the child-table rows
(operation, diagnosis, anaesthesia and complication codes) that fit the treatment's scenario,
with times in a plausible order before its last-changed time, then lets the treatment's defects
spoil them (``spor.synthetic.defects``). Ordinary treatments are kept out of the DST hours, so
the DST cases are exactly the ones the manifest declares.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from spor.synthetic.catalogue import (
    ANESTESI_CODES,
    CANCEL_CODES,
    CANCELLED,
    ICD_CODES,
    KOMPLIKATION_CODES,
    KVA_CODES,
    PERFORMED,
    TIME_FORMAT,
)
from spor.synthetic.defects import inject_value_defects
from spor.synthetic.times import dst_dates, minutes, touches_dst_hour, wall_clock

if TYPE_CHECKING:
    from spor.synthetic.planner import TreatmentPlan


def timeline(p: TreatmentPlan, rng: random.Random, start: date) -> dict[str, datetime | None]:
    """Wall-clock times for the scenario, all before the last-changed time."""
    t: dict[str, datetime | None] = {}
    last = p.andrad - minutes(rng, 5, 600)
    performed = p.scenario in PERFORMED
    if "dst-spring" in p.features or "dst-autumn" in p.features:
        spring, autumn = dst_dates(start.year)
        if "dst-spring" in p.features:  # 02:20 does not exist; order holds under any reading
            night = spring if spring < start else dst_dates(start.year - 1)[0]
            base = datetime.combine(night, datetime.min.time())
            v565 = base.replace(hour=1, minute=10)
            t.update(v565=v565, v570=base.replace(hour=2, minute=20),
                     v585=base.replace(hour=3, minute=40), v800=base.replace(hour=5, minute=5))
        else:  # 02:30 happens twice; order holds for either occurrence
            night = autumn if autumn < start else dst_dates(start.year - 1)[1]
            base = datetime.combine(night, datetime.min.time())
            v565 = base.replace(hour=1, minute=30)
            t.update(v565=v565, v570=base.replace(hour=2, minute=30),
                     v585=base.replace(hour=3, minute=30), v800=base.replace(hour=4, minute=45))
        t["v567"] = v565 + timedelta(minutes=4)
        t["v540"] = v540 = v565 - timedelta(minutes=20)
        t["v310"] = v540 - timedelta(hours=5, minutes=12)
        return t
    if performed:
        v800 = last if p.scenario == "performed-postop" else None
        v585 = (v800 - minutes(rng, 30, 180)) if v800 else last
        v570 = v585 - minutes(rng, 5, 30)
        v565 = v570 - minutes(rng, 20, 240)
        t.update(v800=v800, v585=v585, v570=v570, v565=v565,
                 v540=v565 - minutes(rng, 10, 45))
        if rng.random() < 0.6:
            t["v567"] = v565 + minutes(rng, 1, 15)
        if p.akut:
            t["v310"] = v310 = v565 - minutes(rng, 60, 24 * 60)
            if rng.random() < 0.5:
                t["v410"] = v310 + minutes(rng, 5, 30)
                t["v420"] = v420 = v565 - minutes(rng, 0, 30)
                t["v425"] = v420 + minutes(rng, 30, 120)
        else:
            v420 = (v565 + minutes(rng, -30, 30)).replace(second=0)
            v425 = v420 + minutes(rng, 30, 180)
            t.update(v420=v420, v415=v420 - timedelta(minutes=20), v425=v425)
            t["v430"] = v425 + timedelta(minutes=20)
            t["v410"] = v410 = v420 - timedelta(days=rng.randint(3, 90), minutes=rng.randint(0, 600))
            t["v435"] = v410 + timedelta(hours=rng.randint(1, 48))
            t["v310"] = v410 - timedelta(days=rng.randint(1, 120), minutes=rng.randint(0, 600))
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
        t["v425"] = v425 = v420 + minutes(rng, 30, 180)
        t["v430"] = v425 + timedelta(minutes=20)
        t["v435"] = last + timedelta(hours=rng.randint(1, 48))
    return t



def _distinct(rng: random.Random, codes: Sequence[str], k: int) -> list[str]:
    """``k`` draws from ``codes``, each code kept once: a list holding a code twice is a defect the
    gate reports (duplicate-code), not something a clean treatment carries. The draws are the
    same as before, so a seed still gives the same treatments."""
    drawn = [rng.choice(codes) for _ in range(k)]
    return list(dict.fromkeys(drawn))

def row_and_children(p: TreatmentPlan, rng: random.Random, start: date) -> tuple[dict[str, Any], list[tuple[str, str, Any, int, str]]]:
    """The spor_behandling row (column -> value) and the child-table rows
    (table, behandlingsnummer, typ/fas or None, ordning, kod) of one planned treatment."""
    t = timeline(p, rng, start)
    row: dict[str, Any] = {
        "behandlingsnummer": p.bnr, "enhet": p.enhet, "personnummer": p.personnummer,
        "deltar_ej": 1 if p.blocked == "deltar-ej" else 0,
        "akut": 1 if p.akut else 0,
        "akut_prioritet": rng.choice(("0", "2", "6", "24")) if p.akut else None,
        "v335": rng.choice(("1", "2", "2", "3")) if rng.random() < 0.8 else None,
        "andrad_tid": p.andrad.strftime(TIME_FORMAT),
    }
    kids: list[tuple[str, str, Any, int, str]] = []  # (table, bnr, typ/fas/None, ordning, kod)
    performed = p.scenario in PERFORMED
    no_codes = "D11" in p.defects or "no-prelim-code-zxf99" in p.features
    if not no_codes:
        for i, code in enumerate(_distinct(rng, KVA_CODES, rng.choice((1, 1, 1, 2)))):
            kids.append(("spor_operationskod", p.bnr, "preliminar", i + 1, code))
    for i, code in enumerate(_distinct(rng, ICD_CODES, rng.choice((1, 1, 2)))):
        kids.append(("spor_diagnos", p.bnr, None, i + 1, code))
    if performed:
        if "D11" not in p.defects:
            for i, code in enumerate(_distinct(rng, KVA_CODES, rng.choice((1, 1, 2, 3)))):
                kids.append(("spor_operationskod", p.bnr, "utford", i + 1, code))
        for i, code in enumerate(_distinct(rng, ANESTESI_CODES, rng.choice((1, 2)))):
            kids.append(("spor_anestesiatgard", p.bnr, None, i + 1, code))
        if rng.random() < 0.05:
            kids.append(("spor_komplikation", p.bnr, "perop", 1, rng.choice(KOMPLIKATION_CODES[:2])))
        if p.scenario == "performed-postop" and rng.random() < 0.08:
            kids.append(("spor_komplikation", p.bnr, "postop", 1, rng.choice(KOMPLIKATION_CODES[2:])))
        row.update(asa=rng.choice("11222334"), operator_hsaid=f"SE2321000016-{rng.randrange(16**4):04X}",
                   v675=round(rng.uniform(35.5, 37.5), 1), v676=round(rng.uniform(35.5, 37.5), 1) if rng.random() < 0.5 else None,
                   v690=rng.choice(("1", "2", "2", "3")))
        if p.scenario == "performed-postop":
            row.update(v810=rng.choice(("1", "2", "2", "4")), v875=round(rng.uniform(35.8, 37.6), 1))
    if p.scenario in CANCELLED:
        typ, orsak = rng.choice(CANCEL_CODES)
        if "level3-reason" in p.features:
            orsak = orsak + rng.choice(("i", "ii", "x"))  # local level 3 under its level-2 parent
        row.update(v440=typ, v445=orsak, v450=rng.choice((0, 1)))
    inject_value_defects(p, rng, row, kids, t)
    if "dst-spring" not in p.features and "dst-autumn" not in p.features:
        while touches_dst_hour(t.values()):  # keep the DST cases exactly the counted ones
            t = {k: (v - timedelta(hours=3) if v else v) for k, v in t.items()}
    for k in ("v310", "v410", "v415", "v420", "v425", "v430", "v435", "v540", "v565", "v567", "v570", "v585", "v800"):
        row[k] = wall_clock(t.get(k))
    return row, kids
