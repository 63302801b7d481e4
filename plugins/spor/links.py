"""Where a run, its reports and the status page are in the Airflow UI.

Pages link relative to the Airflow root they are served under; task logs and alerts need whole
URLs, built on Airflow's ``[api] base_url`` (what the UI itself uses for its links).
"""

from __future__ import annotations

from urllib.parse import quote

#: The plugin's FastAPI app is mounted here (spor.plugin).
MOUNT = "/spor"


def _q(value: str) -> str:
    return quote(value, safe="")


def run_path(dag_id: str, run_id: str) -> str:
    return f"/dags/{_q(dag_id)}/runs/{_q(run_id)}"


def report_path(dag_id: str, run_id: str, kind: str = "") -> str:
    return f"{MOUNT}/reports/{_q(dag_id)}/{_q(run_id)}/{_q(kind)}"


def status_path() -> str:
    return f"{MOUNT}/status"


def base_url() -> str:
    """Airflow's public base URL (``[api] base_url``), without a trailing slash."""
    from airflow.configuration import conf

    return (conf.get("api", "base_url", fallback="") or "http://localhost:8080").rstrip("/")


def run_url(dag_id: str, run_id: str) -> str:
    return base_url() + run_path(dag_id, run_id)


def report_url(dag_id: str, run_id: str, kind: str = "") -> str:
    return base_url() + report_path(dag_id, run_id, kind)
