"""Extraction through sql/extract/*.sql with bind parameters (issue 2 point 1/3): by last-changed
window, by behandlingsnummer, by date range + unit; children; the block list; on SQLite,
PostgreSQL and MariaDB with the same result; and through the connections Airflow gives."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from spor.extract.source import LISTS, SourceReader, Treatment, wall_clock
from spor.extract.sqlbind import bind
from spor.synthetic import generate


# --- bind parameters -----------------------------------------------------------------------
def test_bind_rewrites_neutral_names_for_each_driver_style():
    sql = "SELECT ':not_a_param', x::text FROM t WHERE a = :a AND b IN (:ids) -- note :c\nAND c LIKE 'x%'"
    q, p = bind(sql, {"a": 1, "ids": ["u", "v"]}, "qmark")
    assert q.startswith("SELECT ':not_a_param', x::text FROM t WHERE a = ? AND b IN (?, ?)")
    assert "note" not in q and p == [1, "u", "v"]
    q, p = bind(sql, {"a": 1, "ids": ["u", "v"]}, "pyformat")
    assert "a = %(a)s AND b IN (%(ids__0)s, %(ids__1)s)" in q and "LIKE 'x%%'" in q
    assert p == {"a": 1, "ids__0": "u", "ids__1": "v"}
    q, p = bind(sql, {"a": 1, "ids": ["u"]}, "named")
    assert "a = :a AND b IN (:ids__0)" in q and p == {"a": 1, "ids__0": "u"}


def test_bind_never_pastes_values_into_sql():
    evil = "x'); DROP TABLE spor_behandling; --"
    q, p = bind("SELECT 1 FROM t WHERE b = :b", {"b": evil}, "qmark")
    assert evil not in q and p == [evil]


def test_bind_refuses_missing_and_empty_list_parameters():
    with pytest.raises(KeyError):
        bind("SELECT :a", {}, "qmark")
    with pytest.raises(ValueError):
        bind("SELECT 1 WHERE b IN (:ids)", {"ids": []}, "qmark")


def test_wall_clock_converts_aware_instants_to_stockholm():
    assert wall_clock(datetime(2025, 7, 1, 10, 0, tzinfo=UTC)) == "2025-07-01 12:00:00"
    assert wall_clock(datetime(2025, 12, 1, 10, 0, tzinfo=UTC)) == "2025-12-01 11:00:00"
    assert wall_clock(datetime(2025, 12, 1, 10, 0)) == "2025-12-01 10:00:00"


# --- every database: SQLite, PostgreSQL, MariaDB ---------------------------------------------
@pytest.fixture
def ops(ops_engine):
    """600 synthetic treatments in a fresh database of each kind (tests/spor/extract/conftest.py)."""
    return ops_engine, generate(ops_engine, n=600, seed=11, days=10)


def _flatten(batches) -> list[Treatment]:
    return [t for batch in batches for t in batch]


def test_changed_window_returns_exactly_the_rows_changed_in_it(ops):
    engine, manifest = ops
    reader = SourceReader.from_url(engine, page_size=7)
    got = _flatten(reader.changed("2025-11-03 00:00:00", "2025-11-05 12:00:00"))
    want = {b for b, e in manifest.treatments.items() if "2025-11-03 00:00:00" <= e.andrad_tid < "2025-11-05 12:00:00"}
    assert [t.behandlingsnummer for t in got if t.behandlingsnummer in want] == [t.behandlingsnummer for t in got]
    assert {t.behandlingsnummer for t in got} == want and len(got) == len(want) > 7


def test_changed_pages_are_bounded_and_join_without_gaps_or_duplicates(ops):
    engine, manifest = ops
    small = list(SourceReader.from_url(engine, page_size=13).changed("2025-11-01", "2025-11-11"))
    assert all(len(b) <= 13 for b in small) and len(small) > 10
    big = _flatten(SourceReader.from_url(engine, page_size=10_000).changed("2025-11-01", "2025-11-11"))
    assert [t.behandlingsnummer for t in _flatten(small)] == [t.behandlingsnummer for t in big]
    assert len(big) == len(manifest.treatments)


def test_changed_window_excludes_its_upper_bound(ops_engine):
    generate(ops_engine, n=30, seed=1)
    with ops_engine.begin() as conn:
        conn.execute(sa.text("UPDATE spor_behandling SET andrad_tid = '2025-11-02 00:00:00' WHERE behandlingsnummer = '3000001'"))
    reader = SourceReader.from_url(ops_engine)
    assert "3000001" not in {t.behandlingsnummer for t in _flatten(reader.changed("2025-11-01", "2025-11-02 00:00:00"))}
    assert "3000001" in {t.behandlingsnummer for t in _flatten(reader.changed("2025-11-02 00:00:00", "2025-11-03"))}


def test_by_numbers_reads_the_listed_treatments_and_ignores_unknown_ones(ops):
    engine, manifest = ops
    reader = SourceReader.from_url(engine)
    wanted = sorted(manifest.treatments)[:3] + ["no-such-number"]
    got = _flatten(reader.by_numbers(wanted))
    assert [t.behandlingsnummer for t in got] == wanted[:3]
    every = _flatten(reader.by_numbers(manifest.treatments))  # more than one IN chunk
    assert len(every) == 600


def test_by_period_and_unit(ops):
    engine, manifest = ops
    reader = SourceReader.from_url(engine, page_size=50)
    got = _flatten(reader.by_period("2025-11-01", "2026-01-01", "OP-B"))
    assert got and {t.row["enhet"] for t in got} == {"OP-B"}
    for t in got:
        r = t.row
        day = r["v565"] or r["v540"] or r["v420"] or r["v415"] or r["v310"]
        assert "2025-11-01" <= day < "2026-01-01"
    assert len(_flatten(reader.by_period("2025-11-01", "2026-01-01"))) > len(got)
    assert _flatten(reader.by_period("1990-01-01", "1990-02-01")) == []


def test_children_come_in_order_under_the_variable_list_names(ops):
    engine, manifest = ops
    treatments = _flatten(SourceReader.from_url(engine).all())
    with engine.connect() as conn:
        for t in treatments[:200]:
            assert set(t.children) == set(LISTS)
            utford = list(conn.execute(sa.text(
                "SELECT kod FROM spor_operationskod WHERE behandlingsnummer = :b AND typ = 'utford' ORDER BY ordning"),
                {"b": t.behandlingsnummer}).scalars())
            diag = list(conn.execute(sa.text(
                "SELECT kod FROM spor_diagnos WHERE behandlingsnummer = :b ORDER BY ordning"),
                {"b": t.behandlingsnummer}).scalars())
            assert t.children["operationskod"] == utford and t.children["diagnos"] == diag
    assert any(t.children["preliminar_operationskod"] for t in treatments)
    assert any(t.children["anestesiatgard"] for t in treatments)


def test_block_list_rows_come_out_as_plain_values(ops):
    engine, _ = ops
    rows = SourceReader.from_url(engine).block_list_rows()
    assert rows and [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    assert all(type(r["id"]) is int and len(r["datum"]) == 10 and isinstance(r["orsak"], str) for r in rows)
    assert any(r["behandlingsnummer"] is None for r in rows) and any(r["behandlingsnummer"] for r in rows)


def test_treatment_repr_holds_no_personal_data(ops):
    engine, _ = ops
    t = _flatten(SourceReader.from_url(engine).by_numbers(["3000001"]))[0]
    assert t.row["personnummer"] not in repr(t) and t.row["personnummer"] not in str([t])


# --- SQLite through Airflow's SqliteHook -------------------------------------------------------
def test_reads_through_the_airflow_common_sql_hook(tmp_path, monkeypatch):
    """The DAGs read with the provider's hook (SqliteHook.get_conn); same rows as the URL path."""
    db = tmp_path / "ops.sqlite"
    generate(f"sqlite:///{db}", n=40, seed=11)
    # Airflow's own form for a SQLite file: the path URL-quoted in the host part
    monkeypatch.setenv("AIRFLOW_CONN_SPOR_OPS_SOURCE_TEST", "sqlite://" + quote(str(db), safe=""))
    via_id = _flatten(SourceReader.from_target("spor_ops_source_test").by_numbers(["3000002", "3000009"]))
    from airflow.providers.sqlite.hooks.sqlite import SqliteHook

    via_hook = _flatten(SourceReader.from_hook(SqliteHook(sqlite_conn_id="spor_ops_source_test")).by_numbers(["3000002", "3000009"]))
    via_url = _flatten(SourceReader.from_url(f"sqlite:///{db}").by_numbers(["3000002", "3000009"]))
    assert [(t.behandlingsnummer, t.row, t.children) for t in via_id] == \
           [(t.behandlingsnummer, t.row, t.children) for t in via_hook] == \
           [(t.behandlingsnummer, t.row, t.children) for t in via_url] != []


# --- database servers: the same values as SQLite -------------------------------------------------
SERVERS = pytest.mark.parametrize("ops_engine", ["postgresql", "mariadb"], indirect=True)


@SERVERS
def test_server_generate_and_extract_give_what_sqlite_gives(ops_engine, tmp_path):
    m_server = generate(ops_engine, n=400, seed=3, days=5)
    m_lite = generate(f"sqlite:///{tmp_path / 'ops.sqlite'}", n=400, seed=3, days=5)
    assert m_server.to_json() == m_lite.to_json()
    server = SourceReader.from_url(ops_engine, page_size=37)
    lite = SourceReader.from_url(f"sqlite:///{tmp_path / 'ops.sqlite'}", page_size=37)
    a = [(t.behandlingsnummer, t.row, t.children) for t in _flatten(server.all())]
    b = [(t.behandlingsnummer, t.row, t.children) for t in _flatten(lite.all())]
    assert len(a) == 400 and a == b  # same normalised values: times as wall-clock text, numbers
    window = ("2025-11-02 06:00:00", "2025-11-04 00:00:00")
    assert [t.behandlingsnummer for t in _flatten(server.changed(*window))] == \
           [t.behandlingsnummer for t in _flatten(lite.changed(*window))] != []
    assert [t.row for t in _flatten(server.by_period("2025-10-01", "2026-01-01", "OP-C"))] == \
           [t.row for t in _flatten(lite.by_period("2025-10-01", "2026-01-01", "OP-C"))] != []
    numbers = sorted(m_lite.treatments)[::7]
    assert [t.row for t in _flatten(server.by_numbers(numbers))] == [t.row for t in _flatten(lite.by_numbers(numbers))]
    assert server.block_list_rows() == lite.block_list_rows() != []


@SERVERS
def test_server_changed_keyset_survives_sub_second_last_changed(ops_engine):
    """Trigger-stamped andrad_tid has microseconds on the servers: paging must not loop or skip."""
    generate(ops_engine, n=60, seed=2)
    with ops_engine.begin() as conn:  # restamp through the trigger: all inside one second or so
        conn.execute(sa.text("UPDATE spor_behandling SET v335 = '4'"))
    reader = SourceReader.from_url(ops_engine, page_size=7)
    got = _flatten(reader.changed("2000-01-01", "2999-01-01"))
    assert sorted(t.behandlingsnummer for t in got) == sorted({t.behandlingsnummer for t in got}) and len(got) == 60


@pytest.mark.parametrize("ops_engine", ["postgresql"], indirect=True)
def test_postgresql_through_the_postgres_hook(ops_engine, postgres_url, monkeypatch):
    generate(ops_engine, n=40, seed=4)
    with ops_engine.connect() as conn:
        schema = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
    url = sa.engine.make_url(postgres_url)
    conn_json = {"conn_type": "postgres", "host": url.host, "port": url.port, "login": url.username,
                 "schema": url.database, "extra": {"options": f"-csearch_path={schema}"}}
    monkeypatch.setenv("AIRFLOW_CONN_SPOR_OPS_PG_TEST", json.dumps(conn_json))
    via_hook = _flatten(SourceReader.from_target("spor_ops_pg_test").all())
    via_url = _flatten(SourceReader.from_url(ops_engine).all())
    assert [(t.behandlingsnummer, t.row) for t in via_hook] == [(t.behandlingsnummer, t.row) for t in via_url]
    assert len(via_hook) == 40


@pytest.mark.parametrize("ops_engine", ["mariadb"], indirect=True)
def test_mariadb_through_an_airflow_mysql_connection(ops_engine, monkeypatch):
    """A ``mysql`` connection is read through PyMySQL: no mysql provider, no C client library."""
    generate(ops_engine, n=40, seed=4)
    url = ops_engine.url
    conn_json = {"conn_type": "mysql", "host": url.host, "port": url.port, "login": url.username,
                 "password": url.password, "schema": url.database, "extra": {"charset": "utf8mb4"}}
    monkeypatch.setenv("AIRFLOW_CONN_SPOR_OPS_MARIADB_TEST", json.dumps(conn_json))
    reader = SourceReader.from_target("spor_ops_mariadb_test")
    via_conn = _flatten(reader.all())
    via_url = _flatten(SourceReader.from_url(ops_engine).all())
    assert [(t.behandlingsnummer, t.row, t.children) for t in via_conn] == \
           [(t.behandlingsnummer, t.row, t.children) for t in via_url]
    assert len(via_conn) == 40 and reader.block_list_rows() == SourceReader.from_url(ops_engine).block_list_rows()
