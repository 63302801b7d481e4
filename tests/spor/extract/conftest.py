"""An empty OPS database of each kind the source contract has reference DDL for, one per test:
a SQLite file, a PostgreSQL schema, a MariaDB database. ``ops_engine`` runs a test on all three;
``@pytest.mark.parametrize("ops_engine", [...], indirect=True)`` picks some."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

OPS_DATABASES = ("sqlite", "postgresql", "mariadb")


@pytest.fixture
def sqlite_engine(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'ops.sqlite'}")
    yield engine
    engine.dispose()


@pytest.fixture
def pg_engine(postgres_url):
    """A fresh schema per test, first on search_path, dropped afterwards."""
    schema = f"spor_ops_{uuid.uuid4().hex[:10]}"
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
def mariadb_engine(mariadb_database):
    engine = sa.create_engine(mariadb_database)
    yield engine
    engine.dispose()  # before the database is dropped


@pytest.fixture(params=OPS_DATABASES)
def ops_engine(request):
    fixture = {"sqlite": "sqlite_engine", "postgresql": "pg_engine", "mariadb": "mariadb_engine"}[request.param]
    return request.getfixturevalue(fixture)
