"""The reports pages: only for users allowed to read the run, only for a run of the DAG in the URL,
read from the state database the tasks use (never another one), a clear page when it is missing."""

from __future__ import annotations

import json
import uuid

import pytest


def _add_run(dag_id: str, run_id: str) -> None:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState

    with create_session() as session:
        session.add(DagRun(dag_id=dag_id, run_id=run_id, run_type="manual", state=DagRunState.SUCCESS))


@pytest.fixture
def run_id(airflow_db) -> str:
    rid = f"manual__{uuid.uuid4().hex[:8]}"
    _add_run("spor_nightly", rid)
    return rid


@pytest.fixture
def client(airflow_db):
    from airflow.api_fastapi.app import create_auth_manager
    from fastapi.testclient import TestClient

    from spor.ui.reports import create_app

    create_auth_manager()
    return TestClient(create_app())


@pytest.fixture
def state_with_report(tmp_path, monkeypatch, run_id):
    from spor.state import database as statedb
    from spor.state import runlog

    path = tmp_path / "state.sqlite"
    monkeypatch.setenv("AIRFLOW_CONN_SPOR_STATE", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    db = statedb.connect(f"sqlite:///{path}")
    runlog.save_report(db, "spor_nightly", run_id, "quality", "<html><body>quality of the run: 3000025 D17</body></html>")
    db.dispose()
    return run_id


def _as(client, role):
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.security import get_user

    client.app.dependency_overrides[get_user] = lambda: SimpleAuthManagerUser(username="u", role=role)


def test_report_requires_authentication(client, state_with_report):
    assert client.get(f"/reports/spor_nightly/{state_with_report}/quality").status_code == 401


def test_user_without_a_role_is_refused(client, state_with_report):
    _as(client, None)
    assert client.get(f"/reports/spor_nightly/{state_with_report}/quality").status_code == 403


def test_viewer_opens_the_quality_report_of_the_run(client, state_with_report):
    _as(client, "viewer")
    run = state_with_report
    page = client.get(f"/reports/spor_nightly/{run}/quality")
    assert page.status_code == 200 and "3000025" in page.text
    assert client.get(f"/reports/spor_nightly/{run}/").status_code == 200
    assert client.get(f"/reports/spor_nightly/{run}/nonsense").status_code == 404


def test_a_run_is_served_only_under_its_own_dag(client, state_with_report):
    _as(client, "viewer")
    run = state_with_report
    assert client.get(f"/reports/spor_resend/{run}/quality").status_code == 404
    assert client.get("/reports/spor_nightly/manual__no-such-run/quality").status_code == 404


def test_the_state_database_comes_from_the_setting_the_tasks_use(client, tmp_path, monkeypatch, run_id):
    from spor.state import database as statedb
    from spor.state import runlog

    path = tmp_path / "elsewhere.sqlite"
    monkeypatch.setenv("AIRFLOW_CONN_SPOR_STATE_SITE", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    monkeypatch.setenv("AIRFLOW_VAR_SPOR_CONFIG", json.dumps({"state_conn_id": "spor_state_site"}))
    db = statedb.connect(f"sqlite:///{path}")
    runlog.save_report(db, "spor_nightly", run_id, "quality", "<html><body>site database: 3000043</body></html>")
    db.dispose()
    _as(client, "viewer")
    page = client.get(f"/reports/spor_nightly/{run_id}/quality")
    assert page.status_code == 200 and "3000043" in page.text


def test_missing_state_connection_is_an_error_page_not_another_database(client, tmp_path, monkeypatch, run_id):
    monkeypatch.delenv("AIRFLOW_CONN_SPOR_STATE", raising=False)
    monkeypatch.setenv("AIRFLOW_VAR_SPOR_CONFIG", json.dumps({"state_conn_id": "spor_state_not_there"}))
    monkeypatch.chdir(tmp_path)
    _as(client, "viewer")
    page = client.get(f"/reports/spor_nightly/{run_id}/quality")
    assert page.status_code == 503
    assert "spor_state_not_there" in page.text and "not configured" in page.text
    assert not list(tmp_path.glob("*.sqlite"))


def test_a_state_database_no_run_has_created_is_not_migrated_by_the_page(client, tmp_path, monkeypatch, run_id):
    path = tmp_path / "new.sqlite"
    monkeypatch.setenv("AIRFLOW_CONN_SPOR_STATE", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    _as(client, "viewer")
    page = client.get(f"/reports/spor_nightly/{run_id}/quality")
    assert page.status_code == 503 and "first run" in page.text

    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        assert not sa.inspect(conn).get_table_names()
    engine.dispose()


def test_plugin_registers_a_tab_on_the_run_page():
    from spor.plugin import SporPlugin

    view = SporPlugin.external_views[0]
    assert view["destination"] == "dag_run" and "{RUN_ID}" in view["href"] and not view["href"].startswith("/")
