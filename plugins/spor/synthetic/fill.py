"""Fill the source contract of a database with a synthetic data set and write its manifest.

``generate`` plans the treatments (``spor.synthetic.planner``), makes their rows
(``spor.synthetic.rows``) and inserts them into the contract tables of SQLite or PostgreSQL in
one transaction, then puts back the planned last-changed times that the child inserts' triggers
overwrote. The contract DDL (sql/contract/*.sql) is applied first when missing.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

from spor.synthetic.catalogue import DEFAULT_UNITS, UNMAPPED_UNITS
from spor.synthetic.manifest import Manifest, manifest_entry
from spor.synthetic.planner import plan_treatments
from spor.synthetic.rows import row_and_children

__all__ = ["generate"]

#: spor_behandling columns in insert order
COLUMNS = (
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
    plans, sparr = plan_treatments(n, seed, start, days)
    rng = random.Random(seed * 7919 + 17)  # values stream, independent of the planner's draws
    rows: list[dict[str, Any]] = []
    children: dict[str, list[dict[str, Any]]] = {t: [] for t in CONTRACT_TABLES[1:5]}
    for p in plans:
        row, kids = row_and_children(p, rng, start)
        rows.append({c: row.get(c) for c in COLUMNS})
        for child_table, bnr, sub, ordning, kod in kids:
            rec: dict[str, Any] = {"behandlingsnummer": bnr, "ordning": ordning, "kod": kod}
            if child_table == "spor_operationskod":
                rec["typ"] = sub
            elif child_table == "spor_komplikation":
                rec["fas"] = sub
            children[child_table].append(rec)

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
        conn.execute(sa.insert(table("spor_behandling", COLUMNS)), rows)
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
        unmapped_units=list(UNMAPPED_UNITS), treatments={p.bnr: manifest_entry(p) for p in plans},
    )
    path = manifest_path
    if path is None and engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        path = f"{engine.url.database}.manifest.json"
    if path is not None:
        manifest.save(path)
    return manifest
