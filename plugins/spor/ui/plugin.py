"""The plugin Airflow loads by entry point (``airflow.plugins``): no plugins folder needed.

It adds a "SPOR reports" tab to every DAG run page (an external view with destination
``dag_run``) backed by the FastAPI app of :mod:`spor.ui.reports`, mounted at ``/spor``.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin


class SporUiPlugin(AirflowPlugin):
    name = "spor"
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
        from spor.ui.reports import create_app

        return [{"app": create_app(), "url_prefix": "/spor", "name": "SPOR reports"}]
