"""Where the source-contract SQL lives, and applying its reference DDL (docs/source-contract.md).

The SQL files (``sql/contract``, ``sql/extract``) ship with the package (:mod:`spor.resources`);
a site that keeps its own copy sets ``SPOR_SQL_DIR``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spor.resources import location

__all__ = ["sql_dir", "read_sql", "contract_ddl", "apply_contract", "engine_for", "dialect_of"]

CONTRACT_TABLES = (
    "spor_behandling",
    "spor_operationskod",
    "spor_diagnos",
    "spor_anestesiatgard",
    "spor_komplikation",
    "spor_sparrlista",
)


def sql_dir() -> Path:
    return location("sql")


def read_sql(relative: str) -> str:
    return (sql_dir() / relative).read_text(encoding="utf-8")


def contract_ddl(dialect: str) -> str:
    """The reference DDL for 'sqlite' or 'postgresql'."""
    if dialect not in ("sqlite", "postgresql"):
        raise ValueError(f"no reference DDL for dialect {dialect!r} (sqlite, postgresql)")
    return read_sql(f"contract/{dialect}.sql")


def engine_for(target: Any):
    """A SQLAlchemy Engine from an Engine or a URL string (import kept lazy)."""
    import sqlalchemy as sa

    if isinstance(target, sa.engine.Engine):
        return target
    return sa.create_engine(str(target))


def dialect_of(engine) -> str:
    name = engine.dialect.name
    return "postgresql" if name.startswith("postgres") else name


def apply_contract(target: Any) -> None:
    """Create the contract tables and triggers (idempotent) in the target database/schema."""
    engine = engine_for(target)
    dialect = dialect_of(engine)
    ddl = contract_ddl(dialect)
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        if dialect == "sqlite":
            driver.executescript(ddl)  # triggers hold ';' inside BEGIN..END: let sqlite split
        else:
            cur = raw.cursor()
            cur.execute(ddl)  # psycopg sends the whole script; $$ bodies stay intact
            cur.close()
        raw.commit()
    finally:
        raw.close()
