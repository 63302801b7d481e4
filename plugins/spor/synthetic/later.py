"""A later day of changes in a generated data set: the OPS as it looks one night later.

``change_later(target, manifest, n=300, day=date(2025, 12, 1))`` picks ``n`` treatments that a
night sends cleanly (buildable, not blocked, no defect, no special feature), changes their ASA
class to another valid code and stamps their ``andrad_tid`` during ``day``, spread over its
working hours. The next ``spor_nightly`` extracts exactly these (their last change is after the
previous night's watermark), and SPOR answers them as updates. The choice is deterministic (the
lowest treatment numbers with an ASA class) and the manifest follows: it is updated in memory and
saved when a path is given. Nothing here holds or prints an identity number.

``replan_struck(target, manifest, behandlingsnummer, planned_at=…, operation_start=…)`` plans a
struck (not removed) operation again the way the source contract says the OPS shows it
(docs/source-contract.md, "A struck operation planned again"): the same treatment number, the new
planning in V410-V435, the strykning (V440, V445, V450) cleared, ``andrad_tid`` at the re-planning.
``struck_not_removed(target, manifest)`` lists the treatments it applies to.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from spor.synthetic.manifest import Manifest

#: Another valid ASA class for each one (spor/data/codelists.json "asa"): a change SPOR stores.
NEXT_ASA = {"1": "2", "2": "3", "3": "2", "4": "3", "5": "4", "6": "5"}
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def clean_sent(manifest: Manifest) -> list[str]:
    """Treatments a night builds and sends without a quality finding, in number order."""
    return sorted((b for b, e in manifest.treatments.items()
                   if e.buildable and e.blocked is None and not e.defects and not e.features),
                  key=lambda b: (len(b), b))


def change_later(target: Any, manifest: Manifest, *, n: int = 300, day: date = date(2025, 12, 1),
                 manifest_path: str | Path | None = None) -> list[str]:
    """Change ``n`` cleanly sent treatments on ``day`` (fewer when a small data set has fewer);
    returns their treatment numbers."""
    import sqlalchemy as sa

    from spor.extract.contract import engine_for

    engine = engine_for(target)
    treatments = sa.table("spor_behandling", sa.column("behandlingsnummer"), sa.column("asa"),
                          sa.column("andrad_tid"))
    candidates = set(clean_sent(manifest))
    first = datetime(day.year, day.month, day.day, 7, 0)
    changed: list[str] = []
    with engine.begin() as conn:
        rows = conn.execute(sa.select(treatments.c.behandlingsnummer, treatments.c.asa)
                            .where(treatments.c.asa.in_(sorted(NEXT_ASA))))
        pairs = sorted(((str(b), str(a)) for b, a in rows if str(b) in candidates), key=lambda p: (len(p[0]), p[0]))
        for i, (bnr, asa) in enumerate(pairs[:n]):
            changed_at = (first + timedelta(seconds=i * 10 * 3600 // max(n, 1))).strftime(TIME_FORMAT)
            conn.execute(sa.update(treatments).where(treatments.c.behandlingsnummer == bnr)
                         .values(asa=NEXT_ASA[asa], andrad_tid=changed_at))
            manifest.treatments[bnr].andrad_tid = changed_at
            changed.append(bnr)
    if manifest_path is not None:
        manifest.save(manifest_path)
    return changed


#: The strykning: cleared when a struck operation is planned again (docs/source-contract.md).
STRYKNING_COLUMNS = ("v440", "v445", "v450")


def struck_not_removed(target: Any, manifest: Manifest) -> list[str]:
    """Cleanly sent treatments holding a strykning with V450 = 0 (struck, the patient still on the
    waiting list), in number order."""
    import sqlalchemy as sa

    from spor.extract.contract import engine_for

    engine = engine_for(target)
    treatments = sa.table("spor_behandling", sa.column("behandlingsnummer"), sa.column("v440"), sa.column("v450"))
    candidates = {b for b in clean_sent(manifest) if manifest.treatments[b].scenario == "cancelled-planned"}
    with engine.connect() as conn:
        rows = conn.execute(sa.select(treatments.c.behandlingsnummer)
                            .where(treatments.c.v440.is_not(None), treatments.c.v450 == 0))
        found = {str(b) for (b,) in rows}
    return sorted(found & candidates, key=lambda b: (len(b), b))


def replan_struck(target: Any, manifest: Manifest, behandlingsnummer: str, *, planned_at: datetime,
                  operation_start: datetime, manifest_path: str | Path | None = None) -> dict[str, str]:
    """Plan the struck operation ``behandlingsnummer`` again: V410 = ``planned_at``, planned
    patient time 20 minutes around an operation of 90 minutes from ``operation_start``, V435 an
    hour after planning, the strykning cleared, ``andrad_tid`` = ``planned_at``. Returns the new
    planning (column -> wall-clock text). Refuses a treatment that is not struck, or was removed
    from the waiting list (V450 = 1): the contract's rule is for a struck operation only."""
    import sqlalchemy as sa

    from spor.extract.contract import engine_for

    engine = engine_for(target)
    columns = ("v410", "v415", "v420", "v425", "v430", "v435", *STRYKNING_COLUMNS, "andrad_tid")
    treatments = sa.table("spor_behandling", sa.column("behandlingsnummer"), *(sa.column(c) for c in columns))
    planning = {
        "v410": planned_at, "v415": operation_start - timedelta(minutes=20), "v420": operation_start,
        "v425": operation_start + timedelta(minutes=90), "v430": operation_start + timedelta(minutes=110),
        "v435": planned_at + timedelta(hours=1),
    }
    new = {c: t.strftime(TIME_FORMAT) for c, t in planning.items()}
    with engine.begin() as conn:
        row = conn.execute(sa.select(treatments.c.v440, treatments.c.v450)
                           .where(treatments.c.behandlingsnummer == behandlingsnummer)).first()
        if row is None or row.v440 is None:
            raise ValueError(f"treatment {behandlingsnummer} is not struck")
        if row.v450 not in (0, "0", False):
            raise ValueError(f"treatment {behandlingsnummer} was removed from the waiting list (V450)")
        conn.execute(sa.update(treatments).where(treatments.c.behandlingsnummer == behandlingsnummer)
                     .values(**new, **{c: None for c in STRYKNING_COLUMNS}, andrad_tid=new["v410"]))
    entry = manifest.treatments[behandlingsnummer]
    entry.scenario, entry.andrad_tid = "planned", new["v410"]
    if manifest_path is not None:
        manifest.save(manifest_path)
    return new
