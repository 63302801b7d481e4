"""A run's SPOR reports (quality gate, stage approval, summary) as pages of the Airflow UI.

Plugin FastAPI apps are mounted without Airflow's authentication, so every route requires the
same permission as reading the DAG run itself (Airflow's auth manager, ``requires_access_dag``),
and a page is served only for a run that belongs to the DAG named in its URL. The state database is
resolved exactly as the tasks resolve it, read only; when it cannot be read the page says why.
The reports name treatment numbers and rules only, never personal data.
"""

from __future__ import annotations

from html import escape

KINDS = {"quality": "Quality gate", "stage-approval": "Stage approval (R4)", "summary": "Run summary"}


class Unavailable(Exception):
    """The state database cannot be read here; the message says why and what to do."""


def _state_db():
    """The state database exactly as the tasks resolve it, read-only (never migrated from here)."""
    from spor.hooks.state import state_db

    try:
        db = state_db(migrate=False)
        revision = db.revision()
    except Exception as exc:  # noqa: BLE001 - shown to the user as a page, never a silent fallback
        raise Unavailable(f"the state database cannot be opened from the API server: {type(exc).__name__}: {exc}") from None
    if revision is None:
        raise Unavailable("the state database has no SPOR tables yet: the first run of spor_nightly creates them")
    return db


def _run_exists(dag_id: str, run_id: str) -> bool:
    """The run in the URL belongs to the DAG in the URL (Airflow's metadata database says)."""
    import sqlalchemy as sa
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        return session.scalar(sa.select(DagRun.id).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)) is not None


def render_page(db, dag_id: str, run_id: str, kind: str) -> str | None:
    """The report page for one run, or None when nothing is kept for it."""
    from spor.state import run_summary, runlog
    from spor.state.summary import render_text

    if kind == "summary":
        saved = run_summary.load(db, dag_id, run_id)
        if saved is None:
            return None
        return f"<!doctype html><meta charset=utf-8><title>SPOR summary</title><pre>{escape(render_text(saved))}</pre>"
    found = runlog.load_report(db, dag_id, run_id, kind)
    if found is None:
        return None
    content_type, body = found
    return body if content_type == "text/html" else f"<!doctype html><meta charset=utf-8><pre>{escape(body)}</pre>"


def index_page(db, dag_id: str, run_id: str) -> str:
    from spor.state import runlog

    kept = {kind for _dag, _run, kind, _at in runlog.list_reports(db, dag_id, run_id)} | {"summary"}
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

    def _page(dag_id: str, run_id: str, build) -> str:
        if not _run_exists(dag_id, run_id):
            raise HTTPException(status_code=404, detail=f"no run {run_id} in DAG {dag_id}")
        db = _state_db()
        try:
            page = build(db)
        finally:
            db.dispose()
        if page is None:
            raise HTTPException(status_code=404, detail="no such report for this run")
        return page

    @app.exception_handler(Unavailable)
    def unavailable(_request, exc: Unavailable) -> HTMLResponse:
        page = (f"<!doctype html><meta charset=utf-8><title>SPOR reports unavailable</title>"
                f"<h1>SPOR reports unavailable</h1><p>{escape(str(exc))}</p>"
                "<p>The reports read the state database named by the setting <code>state_conn_id</code> "
                "(connection <code>spor_state</code> by default), as the tasks do.</p>")
        return HTMLResponse(page, status_code=503)

    @app.get("/reports/{dag_id}/{run_id}/", response_class=HTMLResponse, dependencies=allowed)
    def index(dag_id: str, run_id: str) -> str:
        return _page(dag_id, run_id, lambda db: index_page(db, dag_id, run_id))

    @app.get("/reports/{dag_id}/{run_id}/{kind}", response_class=HTMLResponse, dependencies=allowed)
    def report(dag_id: str, run_id: str, kind: str) -> str:
        if kind not in KINDS:
            raise HTTPException(status_code=404, detail="unknown report")
        return _page(dag_id, run_id, lambda db: render_page(db, dag_id, run_id, kind))

    return app
