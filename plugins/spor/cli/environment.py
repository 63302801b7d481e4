"""What a ``spor`` command sets up before it runs: where log lines go, and where connections and
Variables are looked up.

**Standard output is the command's output.** ``spor report --kind quality-json > q.json`` must be
JSON, an HTML report must start with the document. Importing Airflow configures logging to
standard output (Alembic's "Context impl SQLiteImpl.", Great Expectations' "Loading
'datasources'" and Airflow's own lines would land in the middle), so :func:`logs_to_stderr` moves
every log line to standard error, and below WARNING keeps them only with ``--verbose``.

**The metadata database.** Outside a task, Airflow 3's Task SDK looks connections and Variables up
in environment variables and secrets backends only, so a connection created in the UI (kept in
the metadata database) is not found. :func:`use_metadata_database` gives the command the lookup of
Airflow's own server processes, as ``airflow connections get`` and ``airflow connections test``
do: environment variables, secrets backends, then the metadata database, in Airflow's order. It
is the process context, not a call of ``airflow.models.Connection.get_connection_from_secrets``
in our code, because the database providers' hooks (``spor_state`` on SQLite or PostgreSQL) look
their connection up again through the Task SDK themselves. A machine without a configured
metadata database (a worker) keeps the Task SDK's lookup.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path

__all__ = ["PROCESS_CONTEXT", "logs_to_stderr", "metadata_database_configured", "use_metadata_database"]

#: Airflow's switch between the server lookup (with the metadata database) and the client one.
PROCESS_CONTEXT = "_AIRFLOW_PROCESS_CONTEXT"


def logs_to_stderr(*, verbose: bool = False) -> None:
    """Every log line to standard error; INFO and below only when ``verbose``."""
    try:
        import airflow  # noqa: F401 - configures logging as it is imported: first that, then the change
    except ImportError:
        pass
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    loggers = [root] + [lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream in (sys.stdout, sys.__stdout__):
                handler.setStream(sys.stderr)
    _structlog_to_stderr()
    # Airflow sets its own loggers' levels, so a lower root level alone would not quiet them.
    logging.disable(logging.NOTSET if verbose else logging.INFO)
    if not verbose:  # Airflow's deprecations of its own internals: nothing an operator can act on
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)


def _structlog_to_stderr() -> None:
    """Airflow's structlog loggers write to the stream of their factory, standard output when it names none."""
    try:
        import structlog
    except ImportError:
        return
    factory = structlog.get_config().get("logger_factory")
    if getattr(factory, "io", False) in (None, sys.stdout, sys.__stdout__):
        factory.io = sys.stderr  # type: ignore[union-attr]  # Airflow's LoggerFactory: checked by getattr above


def metadata_database_configured() -> bool:
    """Airflow is installed and ``[database] sql_alchemy_conn`` names a database; for SQLite, a
    file that exists (opening a missing one would create an empty database)."""
    try:
        from airflow.configuration import conf
    except ImportError:
        return False
    url = conf.get("database", "sql_alchemy_conn", fallback="") or ""
    if not url:
        return False
    import sqlalchemy as sa

    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        return False
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        return database not in ("", ":memory:") and Path(database).exists()
    return True


def use_metadata_database() -> bool:
    """Look connections and Variables up as Airflow's server processes do (environment variables,
    secrets backends, metadata database) when a metadata database is configured; True when it is.
    A context set from outside (``_AIRFLOW_PROCESS_CONTEXT``) is kept."""
    if PROCESS_CONTEXT in os.environ:
        return os.environ[PROCESS_CONTEXT] == "server"
    if not metadata_database_configured():
        return False
    os.environ[PROCESS_CONTEXT] = "server"
    return True
