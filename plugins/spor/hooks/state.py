"""The one way to the state database: the ``spor_state`` Airflow connection → a :class:`StateDB`.

Tasks, the reports plugin and the operator CLI all call :func:`state_db`; nobody else turns a
connection into an engine. The URL is built by the connection's own database hook (SQLite,
PostgreSQL, … from their providers), so every field a site writes in the UI means what it means for
that database; our one Extra key, ``schema_name``, puts the tables in that PostgreSQL schema.

A missing connection is an error, never a silent local SQLite file: with several workers each
would get its own outbox.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from airflow.sdk import BaseHook

from spor.errors import ConfigurationError

if TYPE_CHECKING:
    from spor.clock import Clock
    from spor.state.database import StateDB

DEFAULT_CONN_ID = "spor_state"
#: Extra keys read here; everything else in Extra belongs to the database's own hook.
SCHEMA_NAME = "schema_name"


class SporStateHook(BaseHook):
    """Hook for the state database (conn types ``sqlite`` and ``postgres``, or any with a DbApiHook)."""

    conn_name_attr = "spor_state_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    hook_name = "SPOR state database"

    def __init__(self, spor_state_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spor_state_conn_id = spor_state_conn_id

    def _connection(self):
        try:
            return self.get_connection(self.spor_state_conn_id)
        except Exception as exc:
            if "NotFound" not in type(exc).__name__:
                raise
            raise ConfigurationError(
                f"the state database connection {self.spor_state_conn_id!r} is not configured: add it in Admin → "
                "Connections (PostgreSQL for production, SQLite for one machine; README 'Point it at your "
                f"systems'), or set AIRFLOW_CONN_{self.spor_state_conn_id.upper()}") from None

    def sqlalchemy_url(self) -> sa.URL:
        """The URL the connection's own database hook builds (no hand parsing of connection URIs)."""
        conn = self._connection()
        try:
            db_hook = conn.get_hook()
        except Exception as exc:  # noqa: BLE001 - e.g. the provider of that conn type is not installed
            raise ConfigurationError(
                f"state database connection {self.spor_state_conn_id!r} (type {conn.conn_type}): "
                f"no database hook for it ({type(exc).__name__}); use conn type postgres or sqlite") from None
        try:
            url = db_hook.sqlalchemy_url
        except NotImplementedError:
            url = sa.make_url(db_hook.get_uri())  # SqliteHook builds its SQLAlchemy URI itself
        if isinstance(url, str):
            url = sa.make_url(url)
        return url

    def schema_name(self) -> str | None:
        return (self._connection().extra_dejson or {}).get(SCHEMA_NAME) or None

    def get_state_db(self, *, clock: Clock | None = None, migrate: bool = True) -> StateDB:
        from spor.state.database import connect

        return connect(self.sqlalchemy_url(), clock=clock, schema=self.schema_name(), upgrade=migrate)

    def get_conn(self) -> StateDB:
        return self.get_state_db()

    def test_connection(self) -> tuple[bool, str]:
        try:
            db = self.get_state_db(migrate=False)
            revision = db.revision()
            db.dispose()
        except Exception as exc:  # noqa: BLE001 - reported to the user, not raised
            return False, f"{type(exc).__name__}: {exc}"
        return True, f"state database reachable; schema revision {revision or 'none yet (created by the first run)'}"


def state_db(target: str | None = None, *, clock: Clock | None = None, migrate: bool = True) -> StateDB:
    """The state database: ``target`` is an Airflow connection id (default: the ``state_conn_id``
    setting) or, for tools and tests, a SQLAlchemy URL.

    ``migrate=False`` for readers that must never change the schema (the UI plugin, reports): they
    get the database as it is, and :meth:`StateDB.revision` tells whether a run has created it yet.
    """
    if target and "://" in target:
        from spor.state.database import connect

        return connect(target, clock=clock, upgrade=migrate)
    if target is None:
        from spor import settings

        target = settings.load().state_conn_id
    return SporStateHook(target).get_state_db(clock=clock, migrate=migrate)
