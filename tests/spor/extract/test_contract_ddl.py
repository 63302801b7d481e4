"""The source contract's reference DDL applies on SQLite and PostgreSQL, and its last-changed rule
holds: andrad_tid moves when the row or any child row is inserted, updated or deleted
(docs/source-contract.md, 'last-changed rule'; R5/R6: a change anywhere means a resend)."""

from __future__ import annotations

import sqlite3
import uuid

import pytest
import sqlalchemy as sa

from spor.extract.contract import CONTRACT_TABLES, apply_contract

OLD = "2000-01-01 00:00:00"

CHILD_STATEMENTS = {
    "operationskod": (
        "INSERT INTO spor_operationskod (behandlingsnummer, typ, ordning, kod) VALUES ('B1', 'utford', 1, 'JAB30')",
        "UPDATE spor_operationskod SET kod = 'JAB40' WHERE behandlingsnummer = 'B1'",
        "DELETE FROM spor_operationskod WHERE behandlingsnummer = 'B1'",
    ),
    "diagnos": (
        "INSERT INTO spor_diagnos (behandlingsnummer, ordning, kod) VALUES ('B1', 1, 'K35.8')",
        "UPDATE spor_diagnos SET kod = 'K35.3' WHERE behandlingsnummer = 'B1'",
        "DELETE FROM spor_diagnos WHERE behandlingsnummer = 'B1'",
    ),
    "anestesiatgard": (
        "INSERT INTO spor_anestesiatgard (behandlingsnummer, ordning, kod) VALUES ('B1', 1, 'ZX005')",
        "UPDATE spor_anestesiatgard SET kod = 'ZX006' WHERE behandlingsnummer = 'B1'",
        "DELETE FROM spor_anestesiatgard WHERE behandlingsnummer = 'B1'",
    ),
    "komplikation": (
        "INSERT INTO spor_komplikation (behandlingsnummer, fas, ordning, kod) VALUES ('B1', 'postop', 1, 'X1')",
        "UPDATE spor_komplikation SET kod = 'X2' WHERE behandlingsnummer = 'B1'",
        "DELETE FROM spor_komplikation WHERE behandlingsnummer = 'B1'",
    ),
}


@pytest.fixture
def pg_engine(postgres_url):
    """A fresh schema per test, first on search_path, dropped afterwards."""
    schema = f"spor_ddl_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine = sa.create_engine(postgres_url, connect_args={"options": f"-csearch_path={schema}"})
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def sqlite_engine(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'ops.sqlite'}")
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request):
    return request.getfixturevalue("sqlite_engine" if request.param == "sqlite" else "pg_engine")


def _andrad(conn) -> str:
    return str(conn.execute(sa.text("SELECT andrad_tid FROM spor_behandling WHERE behandlingsnummer = 'B1'")).scalar_one())


def _reset(conn) -> None:
    conn.execute(sa.text("UPDATE spor_behandling SET andrad_tid = :t WHERE behandlingsnummer = 'B1'"), {"t": OLD})
    assert _andrad(conn).startswith("2000-01-01")


def test_contract_ddl_applies_and_is_idempotent(engine):
    apply_contract(engine)
    apply_contract(engine)  # a site re-running the script must not fail
    names = set(sa.inspect(engine).get_table_names())
    assert set(CONTRACT_TABLES) <= names


@pytest.mark.parametrize("child", sorted(CHILD_STATEMENTS))
def test_last_changed_moves_on_child_insert_update_delete(engine, child):
    apply_contract(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO spor_behandling (behandlingsnummer, enhet, andrad_tid) VALUES ('B1', 'OP-A', :t)"), {"t": OLD})
        assert _andrad(conn).startswith("2000-01-01")  # insert keeps a given value
        for statement in CHILD_STATEMENTS[child]:
            _reset(conn)
            conn.execute(sa.text(statement))
            assert not _andrad(conn).startswith("2000-01-01"), statement


def test_last_changed_moves_when_the_row_itself_changes_but_keeps_an_explicit_value(engine):
    apply_contract(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO spor_behandling (behandlingsnummer, enhet, andrad_tid) VALUES ('B1', 'OP-A', :t)"), {"t": OLD})
        conn.execute(sa.text("UPDATE spor_behandling SET v310 = '2025-03-01 10:00:00' WHERE behandlingsnummer = 'B1'"))
        assert not _andrad(conn).startswith("2000-01-01")
        conn.execute(sa.text("UPDATE spor_behandling SET v335 = '2', andrad_tid = '2001-02-03 04:05:06' WHERE behandlingsnummer = 'B1'"))
        assert _andrad(conn).startswith("2001-02-03 04:05:06")


def test_last_changed_unrelated_treatment_does_not_move(engine):
    apply_contract(engine)
    with engine.begin() as conn:
        for b in ("B1", "B2"):
            conn.execute(sa.text("INSERT INTO spor_behandling (behandlingsnummer, enhet, andrad_tid) VALUES (:b, 'OP-A', :t)"), {"b": b, "t": OLD})
        conn.execute(sa.text("INSERT INTO spor_diagnos (behandlingsnummer, ordning, kod) VALUES ('B2', 1, 'K35.8')"))
        assert _andrad(conn).startswith("2000-01-01")


def test_sqlite_triggers_do_not_loop_with_recursive_triggers_on(tmp_path):
    path = tmp_path / "ops.sqlite"
    apply_contract(f"sqlite:///{path}")
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA recursive_triggers = ON")
    conn.execute("INSERT INTO spor_behandling (behandlingsnummer, enhet, andrad_tid) VALUES ('B1', 'OP-A', ?)", (OLD,))
    conn.execute("INSERT INTO spor_diagnos (behandlingsnummer, ordning, kod) VALUES ('B1', 1, 'K35.8')")
    conn.execute("UPDATE spor_behandling SET andrad_tid = ? WHERE behandlingsnummer = 'B1'", (OLD,))
    conn.execute("UPDATE spor_behandling SET v335 = '1' WHERE behandlingsnummer = 'B1'")
    (value,) = conn.execute("SELECT andrad_tid FROM spor_behandling").fetchone()
    assert value != OLD
    conn.close()
