"""The state-database hook: one way from the ``spor_state`` connection to the database, written the
way the README documents it (SQLite path; PostgreSQL host/port/login/database + ``schema_name``),
and a clear error instead of a local SQLite file when the connection is missing."""

from __future__ import annotations

import json
import uuid

import pytest
import sqlalchemy as sa

from spor.errors import ConfigurationError
from spor.hooks.state import SporStateHook, state_db
from spor.state import migrations


def test_sqlite_connection_as_documented(tmp_path, monkeypatch):
    target = tmp_path / "state.sqlite"
    monkeypatch.setenv("AIRFLOW_CONN_SPOR_STATE_T", json.dumps({"conn_type": "sqlite", "host": str(target)}))
    db = state_db("spor_state_t")
    assert db.dialect == "sqlite" and target.exists()
    assert db.revision() == migrations.heads()[0]
    db.dispose()


def test_postgres_connection_as_the_readme_writes_it_with_schema_name(postgres_url, monkeypatch):
    url = sa.make_url(postgres_url)
    schema = f"spor_hook_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("AIRFLOW_CONN_SPOR_STATE_PG", json.dumps({
        "conn_type": "postgres", "host": url.host, "port": url.port, "login": url.username,
        "schema": url.database, "extra": {"schema_name": schema}}))
    try:
        db = state_db("spor_state_pg")
        assert db.dialect == "postgresql" and db.schema == schema
        with db.read() as conn:
            assert sa.inspect(conn).has_table("spor_outbox", schema=schema)
        assert SporStateHook("spor_state_pg").test_connection()[0]
        db.dispose()
    finally:
        admin = sa.create_engine(postgres_url)
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


def test_missing_connection_is_a_clear_error_not_a_local_file(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigurationError, match="spor_state_missing.*not configured"):
        state_db("spor_state_missing")
    assert not list(tmp_path.glob("*.sqlite"))


def test_readers_never_migrate(tmp_path, monkeypatch):
    target = tmp_path / "empty.sqlite"
    monkeypatch.setenv("AIRFLOW_CONN_SPOR_STATE_RO", json.dumps({"conn_type": "sqlite", "host": str(target)}))
    db = state_db("spor_state_ro", migrate=False)
    assert db.revision() is None
    with db.read() as conn:
        assert not sa.inspect(conn).get_table_names()
    db.dispose()
