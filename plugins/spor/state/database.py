"""The state database: engine, tables, and schema creation/upgrade with a schema version.

Same SQLAlchemy Core code for SQLite (default, a file) and PostgreSQL (production). Tables are
created and upgraded by :data:`MIGRATIONS`, recorded in ``spor_schema_version``; a later issue adds
a table by appending one migration function (see ``_v1``).

SQLite: every connection gets WAL mode and a busy timeout (engineering note 17), and write
transactions start with ``BEGIN IMMEDIATE`` so two writers queue on the busy timeout instead of
failing with "database is locked" when a read lock would have to be upgraded.

The operations on these tables live in :mod:`spor.state.ledger`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from spor.clock import Clock, SystemClock

DEFAULT_CONN_ID = "spor_state"
#: SQLite file used when no connection is configured (relative to AIRFLOW_HOME or cwd).
DEFAULT_SQLITE_NAME = "spor_state.sqlite"
SQLITE_BUSY_TIMEOUT_MS = 60_000


class UtcDateTime(sa.types.TypeDecorator):
    """Timezone-aware datetimes stored as naive UTC: SQLite has no time zones, PostgreSQL does."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("state database timestamps must be timezone-aware")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


metadata = sa.MetaData()

schema_version = sa.Table(
    "spor_schema_version", metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("applied_at", UtcDateTime, nullable=False),
)

#: Registrations waiting to be sent: one row per (environment, system_id, behandlingsnummer).
#: A row leaves the outbox when SPOR gives a final answer or it is withdrawn.
outbox = sa.Table(
    "spor_outbox", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("environment", sa.String(32), nullable=False),
    sa.Column("system_id", sa.String(64), nullable=False),
    sa.Column("behandlingsnummer", sa.String(64), nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Column("content_hash", sa.String(128), nullable=False),
    sa.Column("state", sa.String(32), nullable=False),           # always State.WAITING today
    sa.Column("wait_reason", sa.String(32), nullable=False),     # WaitReason
    sa.Column("priority", sa.Integer, nullable=False, default=0),  # higher is sent first
    sa.Column("waiting_since", UtcDateTime, nullable=False),     # first staged; kept on restage
    sa.Column("staged_at", UtcDateTime, nullable=False),         # last (re)staged
    sa.Column("staged_run_id", sa.String(250), nullable=False),
    sa.Column("run_id", sa.String(250), nullable=True),          # last run that touched it
    sa.Column("batch_id", sa.Integer, nullable=True),            # owner while planned
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_attempt_at", UtcDateTime, nullable=True),
    sa.UniqueConstraint("environment", "system_id", "behandlingsnummer", name="uq_spor_outbox_key"),
    sa.Index("ix_spor_outbox_order", "environment", "batch_id", "priority", "waiting_since",
             "behandlingsnummer"),
    sa.Index("ix_spor_outbox_batch", "batch_id"),
)

#: Batches own their outbox rows from planning until they finish (or their lease runs out).
batch = sa.Table(
    "spor_batch", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("environment", sa.String(32), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),             # 1..n within the run (labels)
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("planned_at", UtcDateTime, nullable=False),
    sa.Column("claimed_at", UtcDateTime, nullable=True),
    sa.Column("heartbeat_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime, nullable=True),
    sa.Index("ix_spor_batch_run", "run_id"),
)

#: Every attempt. ``outcome`` is NULL while in flight (or when the process died before the answer
#: was recorded); see docs/state-machine.md for the values.
ledger = sa.Table(
    "spor_ledger", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("batch_id", sa.Integer, nullable=True),
    sa.Column("outbox_id", sa.Integer, nullable=True),
    sa.Column("environment", sa.String(32), nullable=False),
    sa.Column("system_id", sa.String(64), nullable=False),
    sa.Column("behandlingsnummer", sa.String(64), nullable=False),
    sa.Column("content_hash", sa.String(128), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("outcome", sa.String(32), nullable=True),
    sa.Column("result_code", sa.String(32), nullable=True),
    sa.Column("result_text", sa.Text, nullable=True),
    sa.Column("fault_type", sa.String(200), nullable=True),
    sa.Column("fault_rule", sa.String(200), nullable=True),
    sa.Column("http_status", sa.Integer, nullable=True),
    sa.Column("elapsed_s", sa.Float, nullable=True),
    sa.Column("sent_at", UtcDateTime, nullable=False),
    sa.Column("answered_at", UtcDateTime, nullable=True),
    sa.Index("ix_spor_ledger_run", "run_id", "answered_at"),
    sa.Index("ix_spor_ledger_key", "environment", "behandlingsnummer"),
    sa.Index("ix_spor_ledger_latency", "environment", "answered_at"),
)

#: SPOR's last final answer per key: "unchanged" is decided against this row.
last_final = sa.Table(
    "spor_last_final", metadata,
    sa.Column("environment", sa.String(32), primary_key=True),
    sa.Column("system_id", sa.String(64), primary_key=True),
    sa.Column("behandlingsnummer", sa.String(64), primary_key=True),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("content_hash", sa.String(128), nullable=False),
    sa.Column("answered_at", UtcDateTime, nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("ledger_id", sa.Integer, nullable=True),
)

#: Held back before sending (not buildable, identity unknown, quarantined, withdrawn) and
#: quality-gate warnings, per run, with a rule and a reason the team can act on.
held_back = sa.Table(
    "spor_held_back", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("environment", sa.String(32), nullable=True),
    sa.Column("system_id", sa.String(64), nullable=True),
    sa.Column("behandlingsnummer", sa.String(64), nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("rule", sa.String(64), nullable=True),
    sa.Column("variable", sa.String(64), nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
    sa.Index("ix_spor_held_back_run", "run_id"),
)

#: What each staging call did (the "unchanged" count of a run lives here).
stage_log = sa.Table(
    "spor_stage_log", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("environment", sa.String(32), nullable=False),
    sa.Column("staged", sa.Integer, nullable=False),
    sa.Column("unchanged", sa.Integer, nullable=False),
    sa.Column("already_waiting", sa.Integer, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Index("ix_spor_stage_log_run", "run_id"),
)

#: Last successful extraction upper bound per extraction name.
watermark = sa.Table(
    "spor_watermark", metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("value", sa.String(64), nullable=False),
    sa.Column("run_id", sa.String(250), nullable=True),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

#: The summary of each run, as JSON (ids, counts, behandlingsnummer: never personal data).
run_summary = sa.Table(
    "spor_run_summary", metadata,
    sa.Column("run_id", sa.String(250), primary_key=True),
    sa.Column("summary_json", sa.Text, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

V1_TABLES = (outbox, batch, ledger, last_final, held_back, stage_log, watermark, run_summary)


def _v1(conn: Connection) -> None:
    metadata.create_all(conn, tables=list(V1_TABLES))


# --- v2: hand-over between the tasks of a run, run events, reports ---------------------------
#: Unblocked treatments extracted by a run, read by its quality gate and build (spor.extract.handover).
extracted = sa.Table(
    "spor_extracted", metadata,
    sa.Column("run_id", sa.String(250), primary_key=True),
    sa.Column("behandlingsnummer", sa.String(64), primary_key=True),
    sa.Column("payload", sa.Text, nullable=False),  # JSON {"row": ..., "children": ...}: personal data
)
#: What happened to a run beyond per-registration states: stops, failures, capacity (spor.state.runlog).
run_event = sa.Table(
    "spor_run_event", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(250), nullable=False, index=True),
    sa.Column("task", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),      # stop | failure | capacity | info
    sa.Column("message", sa.Text, nullable=False),         # never personal data
    sa.Column("data_json", sa.Text),
    sa.Column("at", UtcDateTime, nullable=False),
)
#: HTML/JSON reports of a run (quality gate, stage approval): treatment numbers, never personal data.
report = sa.Table(
    "spor_report", metadata,
    sa.Column("run_id", sa.String(250), primary_key=True),
    sa.Column("kind", sa.String(40), primary_key=True),
    sa.Column("content_type", sa.String(40), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)


def _v2(conn: Connection) -> None:
    metadata.create_all(conn, tables=[extracted, run_event, report])


# --- v3: removal requests to UCR (issue 6, R11; spor.removal.requests) ---------------------------------
#: One request per (cause, source_key, environment): raised exactly once. cause 'sparrlista' has
#: the block list entry id as source_key; cause 'deleted' (accepted, then deleted in the OPS) has
#: the behandlingsnummer. ``text`` is the e-mail as raised: treatment numbers, never an identity.
removal_request = sa.Table(
    "spor_removal_request", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("cause", sa.String(16), nullable=False),           # sparrlista | deleted
    sa.Column("source_key", sa.String(64), nullable=False),
    sa.Column("environment", sa.String(32), nullable=False),
    sa.Column("scope", sa.String(16), nullable=False),           # treatment | patient
    sa.Column("orsak", sa.Text, nullable=True),                  # masked free text from the OPS
    sa.Column("kanal", sa.Text, nullable=True),
    sa.Column("datum", sa.String(32), nullable=True),
    sa.Column("system_ids", sa.Text, nullable=False),            # comma separated
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),          # raised | sent | confirmed
    sa.Column("raised_at", UtcDateTime, nullable=False),
    sa.Column("raised_run_id", sa.String(250), nullable=False),
    sa.Column("sent_at", UtcDateTime, nullable=True),
    sa.Column("sent_to", sa.Text, nullable=True),
    sa.Column("confirmed_at", UtcDateTime, nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    sa.UniqueConstraint("cause", "source_key", "environment", name="uq_spor_removal_request_key"),
    sa.Index("ix_spor_removal_request_run", "raised_run_id"),
    sa.Index("ix_spor_removal_request_status", "status"),
)
#: The accepted registrations a request covers. ``in_text`` is false for numbers found after the
#: request was raised (a whole-patient request already asks UCR for all of the patient's data).
removal_item = sa.Table(
    "spor_removal_item", metadata,
    sa.Column("request_id", sa.Integer, sa.ForeignKey("spor_removal_request.id"), primary_key=True),
    sa.Column("system_id", sa.String(64), primary_key=True),
    sa.Column("behandlingsnummer", sa.String(64), primary_key=True),
    sa.Column("environment", sa.String(32), nullable=False),
    sa.Column("in_text", sa.Boolean, nullable=False),
    sa.Column("added_at", UtcDateTime, nullable=False),
    sa.Column("added_run_id", sa.String(250), nullable=False),
    sa.Index("ix_spor_removal_item_key", "environment", "behandlingsnummer"),
)


def _v3(conn: Connection) -> None:
    metadata.create_all(conn, tables=[removal_request, removal_item])


#: Ordered upgrades. To add a table: define it on ``metadata`` and append
#: ``(N, lambda conn: metadata.create_all(conn, tables=[new_table]))``.
MIGRATIONS: list[tuple[int, Callable[[Connection], None]]] = [(1, _v1), (2, _v2), (3, _v3)]


@dataclass
class StateDB:
    """A connected state database. Create with :func:`connect` or :func:`from_airflow_conn`."""

    engine: Engine
    clock: Clock = field(default_factory=SystemClock)
    schema: str | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def now(self) -> datetime:
        """The injected clock's instant in UTC (arithmetic on local times is wrong across DST)."""
        return self.clock.now().astimezone(timezone.utc)

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

    def schema_version(self) -> int:
        with self.read() as conn:
            if not sa.inspect(conn).has_table(schema_version.name, schema=self.schema):
                return 0
            return conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0

    def upgrade(self) -> int:
        """Create or upgrade the tables to the newest schema version; returns that version."""
        with self.write() as conn:
            schema_version.create(conn, checkfirst=True)
            current = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0
            for version, step in MIGRATIONS:
                if version > current:
                    step(conn)
                    conn.execute(schema_version.insert().values(version=version, applied_at=self.now()))
                    current = version
        return current

    def dispose(self) -> None:
        self.engine.dispose()


def _install_sqlite_pragmas(engine: Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # noqa: ANN001
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
        kwargs: dict = {}
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


def sqlalchemy_url_from_airflow_uri(uri: str) -> str:
    """Airflow connection URI → SQLAlchemy URL (``postgres://`` → ``postgresql+psycopg2://``)."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        raise ValueError("not a connection URI")
    scheme = scheme.lower().replace("_", "-")
    mapping = {"postgres": "postgresql+psycopg2", "postgresql": "postgresql+psycopg2",
               "sqlite": "sqlite"}
    if scheme in mapping:
        scheme = mapping[scheme]
    if scheme == "sqlite":
        # Airflow writes sqlite paths as sqlite://<empty host>/<path>; SQLAlchemy wants sqlite:///path
        path = rest.split("?", 1)[0]
        path = path.lstrip("/")
        return f"sqlite:///{'/' + path if not path.startswith(('.', '~')) else path}"
    return f"{scheme}://{rest}"


def default_sqlite_url() -> str:
    import os

    base = Path(os.environ.get("AIRFLOW_HOME", ".")).expanduser()
    return f"sqlite:///{base / DEFAULT_SQLITE_NAME}"


def from_airflow_conn(conn_id: str = DEFAULT_CONN_ID, *, clock: Clock | None = None) -> StateDB:
    """State DB from an Airflow connection (UI or ``AIRFLOW_CONN_<ID>``).

    Missing connection → a SQLite file ``$AIRFLOW_HOME/spor_state.sqlite``. Connection extra
    ``{"schema_name": "..."}`` puts the tables in that PostgreSQL schema. Airflow is imported
    lazily so this module stays cheap to import.
    """
    try:
        from airflow.sdk import BaseHook  # Airflow 3
    except ImportError:  # pragma: no cover - Airflow 2 fallback
        from airflow.hooks.base import BaseHook  # type: ignore[no-redef]
    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception as exc:  # noqa: BLE001 - the not-found type moved between Airflow versions
        if "NotFound" not in type(exc).__name__:
            raise  # a configured but broken connection must not silently fall back to SQLite
        return connect(default_sqlite_url(), clock=clock)
    extra = conn.extra_dejson or {}
    url = extra.get("sqlalchemy_url") or sqlalchemy_url_from_airflow_uri(conn.get_uri())
    return connect(url, clock=clock, schema=extra.get("schema_name"))
