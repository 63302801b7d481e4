"""The UI plugin serves a run's reports (issue 5 point 3) only to users allowed to read the run."""

from __future__ import annotations

import pytest

from tests.conftest import PLUGINS  # noqa: F401  (puts plugins/ on sys.path)


@pytest.fixture
def client(tmp_path, monkeypatch, airflow_db):
    from fastapi.testclient import TestClient

    from spor.state import runlog

    from spor.state import database as statedb

    url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    monkeypatch.setenv("AIRFLOW_CONN_SPOR_STATE", f'{{"conn_type": "sqlite", "host": "{tmp_path / "state.sqlite"}"}}')
    db = statedb.connect(url)
    runlog.save_report(db, "run-1", "quality", "<html><body>quality of run-1: 3000025 D17</body></html>")

    from airflow.api_fastapi.app import create_auth_manager

    create_auth_manager()
    import spor_reports_plugin

    return TestClient(spor_reports_plugin.create_app())


def _as(client, role):
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.security import get_user

    client.app.dependency_overrides[get_user] = lambda: SimpleAuthManagerUser(username="u", role=role)


def test_report_requires_authentication(client):
    assert client.get("/reports/spor_nightly/run-1/quality").status_code == 401


def test_user_without_a_role_is_refused(client):
    _as(client, None)
    assert client.get("/reports/spor_nightly/run-1/quality").status_code == 403


def test_viewer_opens_the_quality_report_of_the_run(client):
    _as(client, "viewer")
    page = client.get("/reports/spor_nightly/run-1/quality")
    assert page.status_code == 200 and "3000025" in page.text
    assert client.get("/reports/spor_nightly/run-1/").status_code == 200
    assert client.get("/reports/spor_nightly/run-2/quality").status_code == 404
    assert client.get("/reports/spor_nightly/run-1/nonsense").status_code == 404


def test_plugin_registers_a_tab_on_the_run_page():
    import spor_reports_plugin

    view = spor_reports_plugin.SporReportsPlugin.external_views[0]
    assert view["destination"] == "dag_run" and "{RUN_ID}" in view["href"] and not view["href"].startswith("/")
