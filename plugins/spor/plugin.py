"""The plugin Airflow loads by entry point (``airflow.plugins``): no plugins folder needed.

It registers the deadline reference of the nightly 05:00 alert
(:class:`spor.notifications.deadline.NextLocalDeadline`), which the scheduler can only rebuild
from a plugin, so the plugin must stay installed even where nobody opens the pages. It also adds a
"SPOR reports" tab to every DAG run page (an external view with destination ``dag_run``) and a
"SPOR status" entry in the navigation (destination ``nav``), both backed by the FastAPI app of
:mod:`spor.ui.reports`, mounted at ``/spor``.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from spor.notifications.deadline import NextLocalDeadline


class SporPlugin(AirflowPlugin):
    name = "spor"
    deadline_references = [NextLocalDeadline]
    external_views = [
        {
            "name": "SPOR reports",
            "href": "spor/reports/{DAG_ID}/{RUN_ID}/",
            "destination": "dag_run",
            "url_route": "spor_reports",
        },
        {
            "name": "SPOR status",
            "href": "spor/status",
            "destination": "nav",
            "url_route": "spor_status",
        },
    ]

    @property
    def fastapi_apps(self):  # built on first use: the API server needs it, workers never do
        from spor.ui.reports import create_app

        return [{"app": create_app(), "url_prefix": "/spor", "name": "SPOR reports"}]
