"""A run's SPOR reports (quality gate, stage approval, summary) as pages of the Airflow UI.

Plugin FastAPI apps are mounted without Airflow's authentication, so every route requires the
same permission as reading the DAG run itself (Airflow's auth manager, ``requires_access_dag``),
and a page is served only for a run that belongs to the DAG named in its URL. The state database is
resolved exactly as the tasks resolve it, read only; when it cannot be read the page says why.
The status page across nights has its own menu entry and the same guard (read access to the runs
of spor_nightly). Every page is styled as part of Airflow's UI (:mod:`spor.page`) and links back
to its run and to the status page. The pages name treatment numbers and rules only, never
personal data.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any

from fastapi import Request  # route signatures are resolved against this module's names

from spor.page import document, restyle

KINDS = {"quality": "Quality gate", "stage-approval": "Stage approval (R4)", "summary": "Run summary",
         "dry-run": "Dry run: what would be sent, and why not the rest"}


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


def _run_exists(dag_id: str, run_id: str | None) -> bool:
    """The run in the URL belongs to the DAG in the URL (Airflow's metadata database says)."""
    import sqlalchemy as sa
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        return session.scalar(sa.select(DagRun.id).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)) is not None


def render_page(db, dag_id: str, run_id: str, kind: str, *, root: str = "", query: dict[str, Any] | None = None) -> str | None:
    """The report page for one run, or None when nothing is kept for it. ``root``: the Airflow
    root path the links start from."""
    from spor.state import run_summary, runlog, summary
    from spor.ui.summary_page import dry_run_page, nav, summary_page

    query = query or {}
    page = int(query.get("page") or 1)
    if kind == "summary":
        saved = run_summary.load(db, dag_id, run_id)
        if saved is None:
            return None
        return summary_page(saved, root=root, rule=query.get("rule"), page=page)
    if kind == "dry-run":
        from spor.state.status import held_back_in_run

        dry = summary.load_dry_run(db, dag_id, run_id)
        if dry is None:
            return None
        return dry_run_page(run_summary.load(db, dag_id, run_id), dry, held_back_in_run(db, run_id),
                            dag_id=dag_id, run_id=run_id, root=root, page=page)
    found = runlog.load_report(db, dag_id, run_id, kind)
    if found is None:
        return None
    _content_type, body = found
    return restyle(body, links=nav(root, dag_id, run_id), fallback_title=f"SPOR {KINDS[kind]} — {run_id}")


def index_page(db, dag_id: str, run_id: str, *, root: str = "") -> str:
    from spor.state import runlog
    from spor.ui.summary_page import nav

    kept = {kind for _dag, _run, kind, _at in runlog.list_reports(db, dag_id, run_id)} | {"summary"}
    items = "".join(
        f'<li><a href="{escape(kind)}">{escape(title)}</a></li>' for kind, title in KINDS.items() if kind in kept
    )
    return document(f"SPOR reports — {run_id}", f"<h1>SPOR reports for {escape(dag_id)} / {escape(run_id)}</h1>"
                    f"<ul>{items}</ul>", links=nav(root, dag_id, run_id))


def status(db, *, root: str = "") -> str:
    from spor.clock import clock_from_env
    from spor.state.status import read
    from spor.ui.status_page import status_page

    try:
        from spor import settings

        warn_days = settings.load().certificate_warn_days
    except Exception:  # noqa: BLE001 - the page still shows the days; only the colouring needs it
        warn_days = 30
    now = clock_from_env().now()   # the tasks' clock: the last 30 nights are theirs (simulated in the demo)
    # A certificate's days on the real clock, as TLS and `spor check-connection` count them.
    return status_page(read(db, now=now), now=now, root=root, warn_days=warn_days,
                       certificates_now=datetime.now(UTC))


def _root(request) -> str:
    """The Airflow root this app is mounted under (``/spor`` stripped), for links to the UI."""
    from spor.links import MOUNT

    return request.scope.get("root_path", "").removesuffix(MOUNT)


def create_app():
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag
    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.responses import HTMLResponse

    app = FastAPI(title="SPOR reports", docs_url=None, redoc_url=None, openapi_url=None)
    allowed = [Depends(requires_access_dag("GET", DagAccessEntity.RUN))]
    # The status page is about the nights: the same permission, on spor_nightly's runs.
    allowed_status = [Depends(requires_access_dag("GET", DagAccessEntity.RUN, param_dag_id="spor_nightly"))]

    def _page(dag_id: str | None, run_id: str | None, build) -> str:
        if dag_id is not None and not _run_exists(dag_id, run_id):
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
        page = document("SPOR reports unavailable", f"<h1>SPOR reports unavailable</h1><p>{escape(str(exc))}</p>"
                        "<p>The reports read the state database named by the setting <code>state_conn_id</code> "
                        "(connection <code>spor_state</code> by default), as the tasks do.</p>")
        return HTMLResponse(page, status_code=503)

    @app.get("/status", response_class=HTMLResponse, dependencies=allowed_status)
    def status_route(request: Request) -> str:
        return _page(None, None, lambda db: status(db, root=_root(request)))

    @app.get("/reports/{dag_id}/{run_id}/", response_class=HTMLResponse, dependencies=allowed)
    def index(request: Request, dag_id: str, run_id: str) -> str:
        return _page(dag_id, run_id, lambda db: index_page(db, dag_id, run_id, root=_root(request)))

    @app.get("/reports/{dag_id}/{run_id}/{kind}", response_class=HTMLResponse, dependencies=allowed)
    def report(request: Request, dag_id: str, run_id: str, kind: str) -> str:
        if kind not in KINDS:
            raise HTTPException(status_code=404, detail="unknown report")
        query = dict(request.query_params)
        return _page(dag_id, run_id, lambda db: render_page(db, dag_id, run_id, kind, root=_root(request), query=query))

    return app
