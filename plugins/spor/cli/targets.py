"""What a command that reads a database checks first: that the database is there.

Opening a SQLite file that does not exist creates an empty one, so a mistyped path or a shell
without the demo's environment would quietly read nothing (and leave a stray file behind). The
commands that read the OPS or the state database ask here first and refuse with what to do.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spor.state.database import StateDB


def _sqlite_path(database: str | None) -> Path | None:
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def missing_database(target: str, what: str) -> str | None:
    """A one-line refusal when ``target`` (SQLAlchemy URL or Airflow connection id) names no database
    that exists yet, else None. ``what`` says which database it is meant to be."""
    if "://" in target:
        import sqlalchemy as sa

        url = sa.make_url(target)
        path = _sqlite_path(url.database) if url.get_backend_name() == "sqlite" else None
        if path is not None and not path.exists():
            return f"error: the {what} {path} does not exist (nothing created); check the path"
        return None
    from airflow.exceptions import AirflowNotFoundException
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection(target)
    except AirflowNotFoundException:
        return (f"error: no Airflow connection {target!r} for the {what}: set AIRFLOW_CONN_{target.upper()} "
                f"(after make demo: source .demo/env.sh) or pass a SQLAlchemy URL")
    if conn.conn_type == "sqlite":
        host = conn.host or ""
        path = _sqlite_path(host[len("sqlite:///"):] if host.startswith("sqlite:///") else host)
        if path is not None and not path.exists():
            return f"error: the {what} {path} (connection {target!r}) does not exist (nothing created)"
    return None


def existing_state_db(target: str) -> StateDB | None:
    """The state database ``target`` opened for reading (it never creates or changes tables), or
    None after saying on stderr why not: missing, or no run has used it yet."""
    import sys

    from spor.hooks.state import state_db

    refusal = missing_database(target, "state database")
    if refusal:
        print(refusal, file=sys.stderr)
        return None
    db = state_db(target, migrate=False)
    if db.revision() is None:
        print(f"error: no SPOR tables in the state database {target}: no run has used it yet", file=sys.stderr)
        return None
    return db
