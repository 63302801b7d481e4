"""Schema changes of the state database, as an Alembic revision chain (``versions/``).

:func:`upgrade` brings a database to the newest revision. It keeps its own version table,
``spor_alembic_version``, because Airflow's ``alembic_version`` may live in the same PostgreSQL
database. One migrator at a time: the whole upgrade runs in one transaction that first takes a
lock every other migrator waits on (a PostgreSQL advisory lock; SQLite's write lock, taken by
``BEGIN IMMEDIATE``), so nightly, resend and mapped tasks starting together upgrade once. SQLite
changes tables in Alembic's batch mode (copy and move), since it cannot alter most of a table.

To change the schema: edit :mod:`spor.state.tables`, then add ``versions/NNNN_<what>.py`` with
``down_revision`` set to the current head. A test holds the chain to a single head.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext, RevisionStep
    from alembic.script import ScriptDirectory

    from spor.state.database import StateDB

VERSION_TABLE = "spor_alembic_version"
#: Any fixed number: the key of the PostgreSQL advisory lock that serialises migrators.
_ADVISORY_LOCK_KEY = 0x5B0B_2026


def _script() -> tuple[Config, ScriptDirectory]:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    return config, ScriptDirectory.from_config(config)


def heads() -> tuple[str, ...]:
    return tuple(_script()[1].get_heads())


def current(db: StateDB) -> str | None:
    """The revision the database is at (None: never migrated by Alembic)."""
    from alembic.runtime.migration import MigrationContext

    with db.read() as conn:
        if not sa.inspect(conn).has_table(VERSION_TABLE, schema=db.schema):
            return None
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE,
                                                         "version_table_schema": db.schema})
        return context.get_current_revision()


def upgrade(db: StateDB, target: str = "head") -> str:
    """Upgrade to ``target``; returns the revision reached. Safe to call from many processes at once."""
    from alembic.runtime.environment import EnvironmentContext

    config, script = _script()

    def steps(revision: str, _context: MigrationContext) -> list[RevisionStep]:
        return script._upgrade_revs(target, revision)

    with db.write() as conn:  # BEGIN IMMEDIATE on SQLite: the write lock is the migrator's lock
        if db.dialect == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
            if db.schema:
                conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{db.schema}"'))
        with EnvironmentContext(config, script, fn=steps, destination_rev=target) as env:
            env.configure(connection=conn, version_table=VERSION_TABLE, version_table_schema=db.schema,
                          render_as_batch=True,
                          transaction_per_migration=False)
            env.run_migrations()
            reached = env.get_context().get_current_revision()
    if reached is None:
        raise RuntimeError(f"the state database has no revision after upgrading to {target}")
    return reached
