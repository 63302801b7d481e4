"""The state database (issue 3 point 4): tables created and upgraded by code with a schema version,
same code on SQLite and PostgreSQL, SQLite in WAL mode with a busy timeout on every connection,
connection from Airflow (UI or AIRFLOW_CONN_*) with a SQLite default."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from spor.state import database as statedb
from tests.spor.state_fixtures import clock, state_db  # noqa: F401 - fixtures


def test_tables_created_with_schema_version(state_db):
    assert state_db.schema_version() == statedb.MIGRATIONS[-1][0]
    with state_db.read() as conn:
        names = set(sa.inspect(conn).get_table_names(schema=state_db.schema))
    assert {"spor_outbox", "spor_ledger", "spor_last_final", "spor_held_back", "spor_watermark",
            "spor_run_summary", "spor_batch", "spor_schema_version"} <= names


def test_upgrade_is_idempotent_and_applies_new_migrations(state_db, monkeypatch):
    """A later issue adds a table by appending one migration; existing databases get it."""
    current = statedb.MIGRATIONS[-1][0]
    assert state_db.upgrade() == current
    extra = sa.Table("spor_test_extension", statedb.metadata, sa.Column("id", sa.Integer, primary_key=True))
    try:
        monkeypatch.setattr(statedb, "MIGRATIONS", statedb.MIGRATIONS + [
            (current + 1, lambda conn: statedb.metadata.create_all(conn, tables=[extra]))])
        assert state_db.upgrade() == current + 1
        assert state_db.upgrade() == current + 1
        with state_db.read() as conn:
            assert sa.inspect(conn).has_table("spor_test_extension", schema=state_db.schema)
            versions = [r[0] for r in conn.execute(sa.select(statedb.schema_version.c.version))]
        assert sorted(versions) == list(range(1, current + 2))
    finally:
        statedb.metadata.remove(extra)


def test_sqlite_every_connection_has_wal_and_busy_timeout(tmp_path):
    db = statedb.connect(f"sqlite:///{tmp_path / 's.sqlite'}")
    conns = [db.engine.connect() for _ in range(3)]   # several pooled connections
    try:
        for conn in conns:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == statedb.SQLITE_BUSY_TIMEOUT_MS
    finally:
        for conn in conns:
            conn.close()


def test_timestamps_must_be_timezone_aware(state_db):
    with pytest.raises(sa.exc.StatementError):
        with state_db.write() as conn:
            conn.execute(statedb.watermark.insert().values(name="x", value="y", updated_at=datetime(2025, 1, 1)))


@pytest.mark.parametrize("uri,url", [
    ("postgres://u:p@db.example:5432/spor", "postgresql+psycopg2://u:p@db.example:5432/spor"),
    ("postgresql://u@h/spor", "postgresql+psycopg2://u@h/spor"),
    ("sqlite://%2Ftmp%2Fx.sqlite".replace("%2F", "/"), "sqlite:////tmp/x.sqlite"),
])
def test_airflow_uri_to_sqlalchemy_url(uri, url):
    assert statedb.sqlalchemy_url_from_airflow_uri(uri) == url


def test_from_airflow_conn_reads_env_connection_and_defaults_to_sqlite(tmp_path, monkeypatch):
    target = tmp_path / "from-env.sqlite"
    monkeypatch.setenv("AIRFLOW_CONN_SPOR_STATE_TEST", f'{{"conn_type": "sqlite", "host": "{target}"}}')
    db = statedb.from_airflow_conn("spor_state_test")
    assert db.dialect == "sqlite" and db.schema_version() == statedb.MIGRATIONS[-1][0] and target.exists()
    db.dispose()
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    default = statedb.from_airflow_conn("spor_state_missing")
    assert default.engine.url.database == str(tmp_path / statedb.DEFAULT_SQLITE_NAME)
    default.dispose()
