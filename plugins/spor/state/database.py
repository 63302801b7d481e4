"""The state database connection: one engine, short transactions, the same code on every database.

SQLAlchemy Core on SQLite (a file, one machine) and PostgreSQL (production). Tables live in
:mod:`spor.state.tables` and are created and changed by :mod:`spor.state.migrations`. Which
database a run uses comes from the ``spor_state`` Airflow connection through
:func:`spor.hooks.state.state_db`; :func:`connect` here takes a URL or an engine (tests, tools).

SQLite: every connection gets WAL mode and a busy timeout (parallel mapped tasks write to one
file), and write transactions start with ``BEGIN IMMEDIATE`` so two writers queue on the busy
timeout instead of failing with "database is locked" when a read lock would have to be upgraded.
Dialect differences stay in this module and the state hook, never in the modules that use tables.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from spor.clock import Clock, SystemClock

if TYPE_CHECKING:
    import sqlite3

    from sqlalchemy.dialects.postgresql import Insert as PostgresqlInsert
    from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
    from sqlalchemy.engine import CursorResult
    from sqlalchemy.pool import ConnectionPoolEntry

SQLITE_BUSY_TIMEOUT_MS = 60_000


@dataclass
class StateDB:
    """A connected state database. Create with :func:`connect` or :func:`spor.hooks.state.state_db`."""

    engine: Engine
    clock: Clock = field(default_factory=SystemClock)
    schema: str | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def now(self) -> datetime:
        """The injected clock's instant in UTC (arithmetic on local times is wrong across DST)."""
        return self.clock.now().astimezone(UTC)

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A short write transaction (``BEGIN IMMEDIATE`` on SQLite)."""
        with self.engine.connect() as conn:
            conn.execution_options(spor_write=True)
            with conn.begin():
                yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            with conn.begin():
                yield conn

    def revision(self) -> str | None:
        """The Alembic revision the tables are at (None: not created yet)."""
        from spor.state import migrations

        return migrations.current(self)

    def upgrade(self) -> str:
        """Create or upgrade the tables to the newest revision; returns that revision."""
        from spor.state import migrations

        return migrations.upgrade(self)

    def upsert(self, conn: Connection, table: sa.Table, values: Mapping[str, object], *, keys: tuple[str, ...]) -> None:
        """Insert ``values``, or update the row with the same ``keys`` (one statement, no race)."""
        stmt: PostgresqlInsert | SqliteInsert
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as postgresql_insert

            stmt = postgresql_insert(table).values(**values)
        elif self.dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            stmt = sqlite_insert(table).values(**values)
        else:
            raise NotImplementedError(f"the state database does not support {self.dialect} (use PostgreSQL or SQLite)")
        conn.execute(stmt.on_conflict_do_update(
            index_elements=list(keys), set_={k: stmt.excluded[k] for k in values if k not in keys}))

    def dispose(self) -> None:
        self.engine.dispose()


def inserted_id(result: CursorResult[*tuple[object, ...]]) -> int:
    """The autoincrement key of the row an INSERT statement added."""
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("the INSERT reported no primary key")
    return int(key[0])


def _install_sqlite_pragmas(engine: Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy's begin event decide BEGIN vs BEGIN IMMEDIATE (pysqlite recipe).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode = WAL")
        # NORMAL is durable across process crashes in WAL mode; a power cut may lose the last
        # commits, which only means a registration is sent again (SPOR replaces by number).
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get("spor_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def connect(url_or_engine: str | sa.URL | Engine, *, clock: Clock | None = None,
            schema: str | None = None, upgrade: bool = True) -> StateDB:
    """Open the state database and (by default) create/upgrade its tables.

    ``schema`` puts every table in that PostgreSQL schema (via ``schema_translate_map``; tests use a
    unique schema each). On SQLite WAL, busy timeout and immediate write transactions are set on
    every connection.
    """
    if isinstance(url_or_engine, Engine):
        engine = url_or_engine
    else:
        url = sa.make_url(url_or_engine)
        kwargs: dict[str, object] = {}
        if url.get_backend_name() == "sqlite":
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
            if url.database and url.database != ":memory:":
                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        else:
            kwargs["pool_pre_ping"] = True
        engine = sa.create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        _install_sqlite_pragmas(engine)
    if schema:
        engine = engine.execution_options(schema_translate_map={None: schema})
    db = StateDB(engine=engine, clock=clock or SystemClock(), schema=schema)
    if upgrade:
        db.upgrade()
    return db
