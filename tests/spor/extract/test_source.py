"""Extraction through sql/extract/*.sql with bind parameters (issue 2 point 1/3): by last-changed
window, by behandlingsnummer, by date range + unit; children; the same result on SQLite and
PostgreSQL; and through the common-sql hooks Airflow gives."""

from __future__ import annotations

import json
import sqlite3
import uuid
from urllib.parse import quote
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from spor.extract.source import LISTS, SourceReader, Treatment, bind, wall_clock
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
    assert wall_clock(datetime(2025, 7, 1, 10, 0, tzinfo=timezone.utc)) == "2025-07-01 12:00:00"
    assert wall_clock(datetime(2025, 12, 1, 10, 0, tzinfo=timezone.utc)) == "2025-12-01 11:00:00"
    assert wall_clock(datetime(2025, 12, 1, 10, 0)) == "2025-12-01 10:00:00"


# --- SQLite ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ops(tmp_path_factory):
    db = tmp_path_factory.mktemp("ops") / "ops.sqlite"
    manifest = generate(f"sqlite:///{db}", n=600, seed=11, days=10)
    return db, manifest


def _flatten(batches) -> list[Treatment]:
    return [t for batch in batches for t in batch]


def test_changed_window_returns_exactly_the_rows_changed_in_it(ops):
    db, manifest = ops
    reader = SourceReader.from_url(f"sqlite:///{db}", page_size=7)
    got = _flatten(reader.changed("2025-11-03 00:00:00", "2025-11-05 12:00:00"))
    want = {b for b, e in manifest.treatments.items() if "2025-11-03 00:00:00" <= e.andrad_tid < "2025-11-05 12:00:00"}
    assert [t.behandlingsnummer for t in got if t.behandlingsnummer in want] == [t.behandlingsnummer for t in got]
    assert {t.behandlingsnummer for t in got} == want and len(got) == len(want) > 7


def test_changed_pages_are_bounded_and_join_without_gaps_or_duplicates(ops):
    db, manifest = ops
    small = list(SourceReader.from_url(f"sqlite:///{db}", page_size=13).changed("2025-11-01", "2025-11-11"))
    assert all(len(b) <= 13 for b in small) and len(small) > 10
    big = _flatten(SourceReader.from_url(f"sqlite:///{db}", page_size=10_000).changed("2025-11-01", "2025-11-11"))
    assert [t.behandlingsnummer for t in _flatten(small)] == [t.behandlingsnummer for t in big]
    assert len(big) == len(manifest.treatments)


def test_changed_window_excludes_its_upper_bound(tmp_path):
    url = f"sqlite:///{tmp_path / 'o.sqlite'}"
    generate(url, n=30, seed=1)
    conn = sqlite3.connect(tmp_path / "o.sqlite")
    conn.execute("UPDATE spor_behandling SET andrad_tid = '2025-11-02 00:00:00' WHERE behandlingsnummer = '3000001'")
    conn.commit()
    conn.close()
    reader = SourceReader.from_url(url)
    assert "3000001" not in {t.behandlingsnummer for t in _flatten(reader.changed("2025-11-01", "2025-11-02 00:00:00"))}
    assert "3000001" in {t.behandlingsnummer for t in _flatten(reader.changed("2025-11-02 00:00:00", "2025-11-03"))}


def test_by_numbers_reads_the_listed_treatments_and_ignores_unknown_ones(ops):
    db, manifest = ops
    reader = SourceReader.from_url(f"sqlite:///{db}")
    wanted = sorted(manifest.treatments)[:3] + ["no-such-number"]
    got = _flatten(reader.by_numbers(wanted))
    assert [t.behandlingsnummer for t in got] == wanted[:3]
    every = _flatten(reader.by_numbers(manifest.treatments))  # more than one IN chunk
    assert len(every) == 600


def test_by_period_and_unit(ops):
    db, manifest = ops
    reader = SourceReader.from_url(f"sqlite:///{db}", page_size=50)
    got = _flatten(reader.by_period("2025-11-01", "2026-01-01", "OP-B"))
    assert got and {t.row["enhet"] for t in got} == {"OP-B"}
    for t in got:
        r = t.row
        day = r["v565"] or r["v540"] or r["v420"] or r["v415"] or r["v310"]
        assert "2025-11-01" <= day < "2026-01-01"
    assert len(_flatten(reader.by_period("2025-11-01", "2026-01-01"))) > len(got)
    assert _flatten(reader.by_period("1990-01-01", "1990-02-01")) == []


def test_children_come_in_order_under_the_variable_list_names(ops):
    db, manifest = ops
    treatments = _flatten(SourceReader.from_url(f"sqlite:///{db}").all())
    conn = sqlite3.connect(db)
    for t in treatments[:200]:
        assert set(t.children) == set(LISTS)
        utford = [r[0] for r in conn.execute(
            "SELECT kod FROM spor_operationskod WHERE behandlingsnummer = ? AND typ = 'utford' ORDER BY ordning", (t.behandlingsnummer,))]
        diag = [r[0] for r in conn.execute(
            "SELECT kod FROM spor_diagnos WHERE behandlingsnummer = ? ORDER BY ordning", (t.behandlingsnummer,))]
        assert t.children["operationskod"] == utford and t.children["diagnos"] == diag
    conn.close()
    assert any(t.children["preliminar_operationskod"] for t in treatments)
    assert any(t.children["anestesiatgard"] for t in treatments)


def test_treatment_repr_holds_no_personal_data(ops):
    db, _ = ops
    t = _flatten(SourceReader.from_url(f"sqlite:///{db}").by_numbers(["3000001"]))[0]
    assert t.row["personnummer"] not in repr(t) and t.row["personnummer"] not in str([t])


def test_reads_through_the_airflow_common_sql_hook(ops, monkeypatch):
    """The DAGs read with the provider's hook (SqliteHook.get_conn); same rows as the URL path."""
    db, _ = ops
    # Airflow's own form for a SQLite file: the path URL-quoted in the host part
    monkeypatch.setenv("AIRFLOW_CONN_SPOR_OPS_SOURCE_TEST", "sqlite://" + quote(str(db), safe=""))
    via_id = _flatten(SourceReader.from_target("spor_ops_source_test").by_numbers(["3000002", "3000009"]))
    from airflow.providers.sqlite.hooks.sqlite import SqliteHook

    via_hook = _flatten(SourceReader.from_hook(SqliteHook(sqlite_conn_id="spor_ops_source_test")).by_numbers(["3000002", "3000009"]))
    via_url = _flatten(SourceReader.from_url(f"sqlite:///{db}").by_numbers(["3000002", "3000009"]))
    assert [(t.behandlingsnummer, t.row, t.children) for t in via_id] == \
           [(t.behandlingsnummer, t.row, t.children) for t in via_hook] == \
           [(t.behandlingsnummer, t.row, t.children) for t in via_url] != []


# --- PostgreSQL --------------------------------------------------------------------------------
@pytest.fixture
def pg_schema(postgres_url):
    schema = f"spor_src_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine = sa.create_engine(postgres_url, connect_args={"options": f"-csearch_path={schema}"})
    yield engine, schema
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def test_postgresql_generate_and_extract_give_what_sqlite_gives(pg_schema, tmp_path):
    engine, _schema = pg_schema
    m_pg = generate(engine, n=400, seed=3, days=5)
    m_lite = generate(f"sqlite:///{tmp_path / 'ops.sqlite'}", n=400, seed=3, days=5)
    assert m_pg.to_json() == m_lite.to_json()
    pg = SourceReader.from_url(engine, page_size=37)
    lite = SourceReader.from_url(f"sqlite:///{tmp_path / 'ops.sqlite'}", page_size=37)
    a = [(t.behandlingsnummer, t.row, t.children) for t in _flatten(pg.all())]
    b = [(t.behandlingsnummer, t.row, t.children) for t in _flatten(lite.all())]
    assert len(a) == 400 and a == b  # same normalised values: times as wall-clock text, numbers
    window = ("2025-11-02 06:00:00", "2025-11-04 00:00:00")
    assert [t.behandlingsnummer for t in _flatten(pg.changed(*window))] == \
           [t.behandlingsnummer for t in _flatten(lite.changed(*window))] != []
    assert [t.row for t in _flatten(pg.by_period("2025-10-01", "2026-01-01", "OP-C"))] == \
           [t.row for t in _flatten(lite.by_period("2025-10-01", "2026-01-01", "OP-C"))] != []
    assert pg.block_list_rows() == lite.block_list_rows() != []


def test_postgresql_changed_keyset_survives_sub_second_last_changed(pg_schema):
    """Trigger-stamped andrad_tid has microseconds on PostgreSQL: paging must not loop or skip."""
    engine, _schema = pg_schema
    generate(engine, n=60, seed=2)
    with engine.begin() as conn:  # restamp through the trigger: all inside one second or so
        conn.execute(sa.text("UPDATE spor_behandling SET v335 = '4'"))
    reader = SourceReader.from_url(engine, page_size=7)
    got = _flatten(reader.changed("2000-01-01", "2999-01-01"))
    assert sorted(t.behandlingsnummer for t in got) == sorted({t.behandlingsnummer for t in got}) and len(got) == 60


def test_postgresql_through_the_postgres_hook(pg_schema, postgres_url, monkeypatch):
    engine, schema = pg_schema
    generate(engine, n=40, seed=4)
    url = sa.engine.make_url(postgres_url)
    conn_json = {"conn_type": "postgres", "host": url.host, "port": url.port, "login": url.username,
                 "schema": url.database, "extra": {"options": f"-csearch_path={schema}"}}
    monkeypatch.setenv("AIRFLOW_CONN_SPOR_OPS_PG_TEST", json.dumps(conn_json))
    via_hook = _flatten(SourceReader.from_target("spor_ops_pg_test").all())
    via_url = _flatten(SourceReader.from_url(engine).all())
    assert [(t.behandlingsnummer, t.row) for t in via_hook] == [(t.behandlingsnummer, t.row) for t in via_url]
    assert len(via_hook) == 40
