"""Where the source-contract SQL lives, and applying its reference DDL (docs/source-contract.md).

The SQL files (``sql/contract``, ``sql/extract``) ship with the package (:mod:`spor.resources`);
a site that keeps its own copy sets ``SPOR_SQL_DIR``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from spor.resources import location

__all__ = ["sql_dir", "read_sql", "contract_ddl", "apply_contract", "engine_for", "dialect_of",
           "split_statements", "DIALECTS"]

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


DIALECTS = ("sqlite", "postgresql", "mysql")


def contract_ddl(dialect: str) -> str:
    """The reference DDL for 'sqlite', 'postgresql' or 'mysql' (MariaDB and MySQL)."""
    if dialect not in DIALECTS:
        raise ValueError(f"no reference DDL for dialect {dialect!r} ({', '.join(DIALECTS)})")
    return read_sql(f"contract/{dialect}.sql")


_SPLIT = re.compile(r"'(?:[^'\\]|''|\\.)*'|--[^\n]*|;", re.S)


def split_statements(script: str) -> list[str]:
    """The statements of a script whose statements end with ``;`` (comments dropped).

    Quoted text may hold ``;`` and ``--``. Bodies with inner ``;`` (BEGIN..END, $$) are not
    supported: the MariaDB/MySQL reference DDL has none, because a server applies one statement
    per call there and DELIMITER is only a command of its command-line client.
    """
    statements: list[str] = []
    current: list[str] = []
    pos = 0
    for m in _SPLIT.finditer(script):
        current.append(script[pos:m.start()])
        token = m.group(0)
        if token == ";":
            statements.append("".join(current))
            current = []
        elif not token.startswith("--"):
            current.append(token)
        pos = m.end()
    current.append(script[pos:])
    statements.append("".join(current))
    return [s.strip() for s in statements if s.strip()]


def engine_for(target: Any):
    """A SQLAlchemy Engine from an Engine or a URL string (import kept lazy)."""
    import sqlalchemy as sa

    if isinstance(target, sa.engine.Engine):
        return target
    return sa.create_engine(str(target))


def dialect_of(engine) -> str:
    name = engine.dialect.name
    if name.startswith("postgres"):
        return "postgresql"
    return "mysql" if name in ("mysql", "mariadb") else name


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
        elif dialect == "mysql":
            cur = raw.cursor()  # the server takes one statement per call
            for statement in split_statements(ddl):
                cur.execute(statement)
            cur.close()
        else:
            cur = raw.cursor()
            cur.execute(ddl)  # psycopg sends the whole script; $$ bodies stay intact
            cur.close()
        raw.commit()
    finally:
        raw.close()
