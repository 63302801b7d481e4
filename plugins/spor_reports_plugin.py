"""Airflow UI plugin: open a run's SPOR reports (quality gate, stage approval, summary) from the run.

Adds a "SPOR reports" tab to every DAG run page (an external view with destination ``dag_run``)
served by a small FastAPI app mounted at ``/spor``. Plugin FastAPI apps are mounted without
Airflow's authentication (engineering note 13), so every route requires the same permission as
reading the DAG run itself (Airflow's auth manager, ``requires_access_dag``).

The reports name treatment numbers and rules only, never personal data. This file is the only
module of ours that Airflow's plugin loader imports; the ``spor`` package stays out of it
(``plugins/.airflowignore``).
"""

from __future__ import annotations

import os
from html import escape

from airflow.plugins_manager import AirflowPlugin

KINDS = {"quality": "Quality gate", "stage-approval": "Stage approval (R4)", "summary": "Run summary"}


def _state_db():
    """The state database, resolved in the API server (no task context there)."""
    import sys

    plugins = os.path.dirname(os.path.abspath(__file__))
    if plugins not in sys.path:
        sys.path.insert(0, plugins)
    from airflow.models.connection import Connection

    from spor.state import database as statedb

    conn_id = os.environ.get("SPOR_STATE_CONN_ID", statedb.DEFAULT_CONN_ID)
    try:
        conn = Connection.get_connection_from_secrets(conn_id)
    except Exception:  # noqa: BLE001 - not configured: the default SQLite file, as the tasks do
        return statedb.connect(statedb.default_sqlite_url())
    extra = conn.extra_dejson or {}
    url = extra.get("sqlalchemy_url") or statedb.sqlalchemy_url_from_airflow_uri(conn.get_uri())
    return statedb.connect(url, schema=extra.get("schema_name"))


def render_page(db, dag_id: str, run_id: str, kind: str) -> str | None:
    """The report page for one run, or None when nothing is kept for it."""
    from spor.state import run_summary, runlog
    from spor.state.summary import render_text

    if kind == "summary":
        saved = run_summary.load(db, run_id)
        if saved is None:
            return None
        return f"<!doctype html><meta charset=utf-8><title>SPOR summary</title><pre>{escape(render_text(saved))}</pre>"
    found = runlog.load_report(db, run_id, kind)
    if found is None:
        return None
    content_type, body = found
    return body if content_type == "text/html" else f"<!doctype html><meta charset=utf-8><pre>{escape(body)}</pre>"


def index_page(db, dag_id: str, run_id: str) -> str:
    from spor.state import runlog

    kept = {kind for _run, kind, _at in runlog.list_reports(db, run_id)} | {"summary"}
    links = "".join(
        f'<li><a href="{escape(kind)}">{escape(title)}</a></li>' for kind, title in KINDS.items() if kind in kept
    )
    return (f"<!doctype html><meta charset=utf-8><title>SPOR reports</title>"
            f"<h1>SPOR reports for {escape(dag_id)} / {escape(run_id)}</h1><ul>{links}</ul>")


def create_app():
    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.responses import HTMLResponse

    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag

    app = FastAPI(title="SPOR reports", docs_url=None, redoc_url=None, openapi_url=None)
    allowed = [Depends(requires_access_dag("GET", DagAccessEntity.RUN))]

    @app.get("/reports/{dag_id}/{run_id}/", response_class=HTMLResponse, dependencies=allowed)
    def index(dag_id: str, run_id: str) -> str:
        return index_page(_state_db(), dag_id, run_id)

    @app.get("/reports/{dag_id}/{run_id}/{kind}", response_class=HTMLResponse, dependencies=allowed)
    def report(dag_id: str, run_id: str, kind: str) -> str:
        if kind not in KINDS:
            raise HTTPException(status_code=404, detail="unknown report")
        page = render_page(_state_db(), dag_id, run_id, kind)
        if page is None:
            raise HTTPException(status_code=404, detail="no such report for this run")
        return page

    return app


class SporReportsPlugin(AirflowPlugin):
    name = "spor_reports"
    external_views = [
        {
            "name": "SPOR reports",
            "href": "spor/reports/{DAG_ID}/{RUN_ID}/",
            "destination": "dag_run",
            "url_route": "spor_reports",
        }
    ]

    @property
    def fastapi_apps(self):  # built on first use: the API server needs it, workers never do
        return [{"app": create_app(), "url_prefix": "/spor", "name": "SPOR reports"}]
