"""A later day of changes in a generated data set: the OPS as it looks one night later.

``change_later(target, manifest, n=300, day=date(2025, 12, 1))`` picks ``n`` treatments that a
night sends cleanly (buildable, not blocked, no defect, no special feature), changes their ASA
class to another valid code and stamps their ``andrad_tid`` during ``day``, spread over its
working hours. The next ``spor_nightly`` extracts exactly these (their last change is after the
previous night's watermark), and SPOR answers them as updates. The choice is deterministic (the
lowest treatment numbers with an ASA class) and the manifest follows: it is updated in memory and
saved when a path is given. Nothing here holds or prints an identity number.
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
