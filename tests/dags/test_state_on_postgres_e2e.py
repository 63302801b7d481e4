"""A whole night with the state database on PostgreSQL, the connection written exactly as the README
documents it (host, port, login, database, ``schema_name`` in Extra) and named by the setting
``spor_config.state_conn_id``; the reports pages read that same database."""

from __future__ import annotations

import json
import uuid

import pytest
import sqlalchemy as sa

from tests.dags.nightly_support import environment, load_dag, night_settings, start_night

WINTER_NIGHT = "2025-12-01T01:00:00+01:00"


@pytest.fixture
def pg_state(postgres_url):
    url = sa.make_url(postgres_url)
    schema = f"spor_night_{uuid.uuid4().hex[:8]}"
    conn = {"conn_type": "postgres", "host": url.host, "port": url.port, "login": url.username,
            "schema": url.database, "extra": {"schema_name": schema}}
    yield conn, schema
    admin = sa.create_engine(postgres_url)
    with admin.begin() as c:
        c.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    admin.dispose()


def test_night_on_postgres_state_as_documented_and_reports_read_the_same_database(tmp_path, standin_pki, airflow_db,
                                                                                   pg_state, postgres_url):
    conn, schema = pg_state
    night = start_night(tmp_path, standin_pki, n=120, seed=5)
    try:
        settings = night_settings(night, WINTER_NIGHT, config={"state_conn_id": "site_state"})
        settings.pop("AIRFLOW_CONN_SPOR_STATE")  # only the site's connection exists
        settings["AIRFLOW_CONN_SITE_STATE"] = json.dumps(conn)
        with environment(settings):
            run = load_dag("spor_nightly").test(logical_date=None)
            assert run.state == "success", run.state
            page = _quality_report_page(run.run_id)
    finally:
        night.standin.stop()
    assert not night.env.state_db.exists(), "a local SQLite state database was created"
    engine = sa.create_engine(postgres_url)
    with engine.connect() as c:
        accepted = c.execute(sa.text(f'SELECT count(*) FROM "{schema}".spor_last_final')).scalar()
        reports = c.execute(sa.text(f'SELECT count(*) FROM "{schema}".spor_report WHERE run_id = :r'),
                            {"r": run.run_id}).scalar()
    engine.dispose()
    received = len(list(night.env.received.glob("*.xml")))
    assert accepted == received > 50
    assert reports >= 1
    assert page.status_code == 200 and "SPOR quality gate" in page.text


def _quality_report_page(run_id: str):
    from airflow.api_fastapi.app import create_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.testclient import TestClient

    from spor.ui.reports import create_app

    create_auth_manager()
    client = TestClient(create_app())
    client.app.dependency_overrides[get_user] = lambda: SimpleAuthManagerUser(username="u", role="viewer")
    return client.get(f"/reports/spor_nightly/{run_id}/quality")
