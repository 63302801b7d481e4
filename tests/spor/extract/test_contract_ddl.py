"""The source contract's reference DDL applies on SQLite, PostgreSQL and MariaDB, and its
last-changed rule holds: andrad_tid moves when the row or any child row is inserted, updated or
deleted (docs/source-contract.md, 'last-changed rule'; R5/R6: a change anywhere means a resend)."""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy as sa

from spor.extract.contract import CONTRACT_TABLES, apply_contract, read_sql, split_statements

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
def engine(ops_engine):
    """SQLite, PostgreSQL and MariaDB in turn (tests/spor/extract/conftest.py)."""
    return ops_engine


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
            conn.execute(sa.text("INSERT INTO spor_behandling (behandlingsnummer, enhet, andrad_tid) "
                                 "VALUES (:b, 'OP-A', :t)"), {"b": b, "t": OLD})
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


def test_deleting_a_treatment_with_child_rows_succeeds(engine):
    """On MariaDB a trigger may not update the table its statement writes: cascaded child deletes
    must not try to stamp the treatment being deleted (InnoDB fires no triggers for them)."""
    apply_contract(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO spor_behandling (behandlingsnummer, enhet, andrad_tid) VALUES ('B1', 'OP-A', :t)"), {"t": OLD})
        conn.execute(sa.text("INSERT INTO spor_diagnos (behandlingsnummer, ordning, kod) VALUES ('B1', 1, 'K35.8')"))
        conn.execute(sa.text("DELETE FROM spor_behandling WHERE behandlingsnummer = 'B1'"))
        assert conn.execute(sa.text("SELECT count(*) FROM spor_behandling")).scalar_one() == 0


def test_split_statements_keeps_quoted_semicolons_and_drops_comments():
    script = "CREATE TABLE t (a text); -- a comment; with 'quotes\nINSERT INTO t VALUES ('x;y', 'it''s -- no comment');\n"
    assert split_statements(script) == [
        "CREATE TABLE t (a text)",
        "INSERT INTO t VALUES ('x;y', 'it''s -- no comment')",
    ]


def test_mysql_reference_ddl_is_one_statement_per_semicolon():
    """No BEGIN..END bodies: the statements reach the server one by one without a DELIMITER."""
    statements = split_statements(read_sql("contract/mysql.sql"))
    assert not [s for s in statements if "BEGIN" in s.upper().split()]
    assert sum(s.startswith("CREATE TRIGGER") for s in statements) == 13
    assert sum(s.startswith("CREATE TABLE") for s in statements) == len(CONTRACT_TABLES)
