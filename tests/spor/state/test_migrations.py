"""The state database's schema is an Alembic chain: one head, its own version table, idempotent,
one migrator at a time, and a database made by the last release before Alembic is upgraded in place
without losing a row (SQLite and PostgreSQL)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from spor.state import database as statedb
from spor.state import migrations
from spor.state.tables import metadata

LEGACY = Path(__file__).resolve().parents[2] / "data" / "state_before_alembic"
#: Rows per table in the legacy fixtures (tests/data/state_before_alembic/README.md).
LEGACY_ROWS = {"spor_outbox": 1, "spor_batch": 1, "spor_ledger": 1, "spor_last_final": 1, "spor_held_back": 1,
               "spor_stage_log": 1, "spor_watermark": 1, "spor_run_summary": 2, "spor_extracted": 1,
               "spor_run_event": 1, "spor_report": 1, "spor_removal_request": 1, "spor_removal_item": 1}


def _counts(db) -> dict[str, int]:
    with db.read() as conn:
        return {name: conn.execute(sa.select(sa.func.count()).select_from(metadata.tables[name])).scalar()
                for name in LEGACY_ROWS}


def _table_names(db) -> set[str]:
    with db.read() as conn:
        return set(sa.inspect(conn).get_table_names(schema=db.schema))


def test_the_chain_has_a_single_head():
    assert len(migrations.heads()) == 1, migrations.heads()


def test_fresh_database_is_at_head_with_every_table_and_its_own_version_table(state_db):
    assert state_db.revision() == migrations.heads()[0]
    names = _table_names(state_db)
    assert set(metadata.tables) <= names
    assert migrations.VERSION_TABLE in names
    assert "alembic_version" not in names  # Airflow's own table name stays free


def test_upgrade_again_changes_nothing(state_db):
    before = state_db.revision()
    assert state_db.upgrade() == before
    assert state_db.revision() == before


def test_tables_match_the_migrated_schema(state_db):
    """Every column the code declares exists after migrating (a new column needs a revision)."""
    with state_db.read() as conn:
        inspector = sa.inspect(conn)
        for table in metadata.sorted_tables:
            have = {c["name"] for c in inspector.get_columns(table.name, schema=state_db.schema)}
            assert {c.name for c in table.columns} <= have, table.name


def test_database_from_the_last_release_before_alembic_upgrades_in_place_sqlite(tmp_path):
    copy = tmp_path / "state.sqlite"
    shutil.copy(LEGACY / "state.sqlite", copy)
    db = statedb.connect(f"sqlite:///{copy}", upgrade=False)
    assert db.revision() is None
    db.upgrade()
    assert db.revision() == migrations.heads()[0]
    assert _counts(db) == LEGACY_ROWS
    assert "spor_schema_version" not in _table_names(db)
    db.dispose()


def test_database_from_the_last_release_before_alembic_upgrades_in_place_postgresql(postgres_url):
    schema = f"spor_legacy_{uuid.uuid4().hex[:8]}"
    sql = (LEGACY / "postgres.sql").read_text().replace("spor_legacy_fixture", schema)
    admin = sa.create_engine(postgres_url)
    raw = admin.raw_connection()
    try:
        with raw.cursor() as cur:
            cur.execute(sql)
        raw.commit()
    finally:
        raw.close()
    try:
        db = statedb.connect(postgres_url, schema=schema, upgrade=False)
        assert db.revision() is None
        db.upgrade()
        assert db.revision() == migrations.heads()[0]
        assert _counts(db) == LEGACY_ROWS
        assert "spor_schema_version" not in _table_names(db)
        db.dispose()
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


_MIGRATE = """
import sys
from spor.state import database
db = database.connect(sys.argv[1], schema=(sys.argv[2] or None))
print(db.revision())
"""


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.needs_postgres)])
def test_migrators_started_together_upgrade_once(backend, tmp_path, request):
    """Nightly, resend and mapped tasks start together: each waits for the one migrator."""
    schema = ""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_url")
        schema = f"spor_race_{uuid.uuid4().hex[:8]}"
    procs = [subprocess.Popen([sys.executable, "-c", _MIGRATE, url, schema], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [p.communicate(timeout=120) for p in procs]
    try:
        assert all(p.returncode == 0 for p in procs), [err[-800:] for _out, err in results]
        assert {out.strip() for out, _err in results} == {migrations.heads()[0]}
    finally:
        if schema:
            admin = sa.create_engine(url)
            with admin.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            admin.dispose()


def test_rows_of_the_test_certificate_entrance_move_to_stage_the_newer_winning(state_db):
    """Both stage entrances share stage's ledger (docs/adr/0007): a database from before moves its
    stage-test-cert rows to stage; where both hold a registration, the newer answer/staging wins."""
    from datetime import UTC, datetime

    from spor.state.tables import certificate, last_final, ledger, outbox

    early, late = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC)

    def final(env, nr, at, state):
        return dict(environment=env, system_id="S1", behandlingsnummer=nr, state=state, content_hash=state,
                    answered_at=at, run_id="r")

    def waiting(env, nr, at, content):
        return dict(environment=env, system_id="S1", behandlingsnummer=nr, payload=b"x", content_hash=content,
                    state="waiting", wait_reason="new", priority=0, waiting_since=at, staged_at=at,
                    staged_run_id="r", attempts=0)

    prefix = state_db.schema + "." if state_db.schema else ""
    with state_db.write() as conn:  # a database as revision 0006 left it: later revisions' tables gone
        conn.execute(sa.text(f"UPDATE {prefix}{migrations.VERSION_TABLE} SET version_num = '0006'"))
        conn.execute(sa.text(f"DROP TABLE {prefix}spor_held_configuration"))
        conn.execute(last_final.insert(), [final("stage-test-cert", "1", late, "test-newer"), final("stage", "1", early, "stage-older"),
                                           final("stage-test-cert", "2", early, "test-older"), final("stage", "2", late, "stage-newer"),
                                           final("stage-test-cert", "3", early, "test-only"), final("production", "3", early, "prod")])
        conn.execute(outbox.insert(), [waiting("stage-test-cert", "1", early, "old"), waiting("stage", "1", late, "new"),
                                       waiting("stage-test-cert", "4", early, "only")])
        conn.execute(ledger.insert(), [dict(run_id="r", environment="stage-test-cert", system_id="S1",
                                            behandlingsnummer="1", content_hash="h", attempt=1, outcome="created",
                                            sent_at=early)])
        conn.execute(certificate.insert(), [dict(environment="stage-test-cert", spor_conn_id="c", not_after=late,
                                                 checked_at=early)])
    assert state_db.upgrade() == migrations.heads()[0]
    with state_db.read() as conn:
        finals = {(r.environment, r.behandlingsnummer): r.state for r in conn.execute(sa.select(last_final))}
        waits = {(r.environment, r.behandlingsnummer): r.content_hash for r in conn.execute(sa.select(outbox))}
        ledgers = {r.environment for r in conn.execute(sa.select(ledger))}
        certs = {r.environment for r in conn.execute(sa.select(certificate))}
    assert finals == {("stage", "1"): "test-newer", ("stage", "2"): "stage-newer", ("stage", "3"): "test-only",
                      ("production", "3"): "prod"}
    assert waits == {("stage", "1"): "new", ("stage", "4"): "only"}
    assert ledgers == {"stage"} and certs == {"stage-test-cert"}  # each entrance keeps its certificate
