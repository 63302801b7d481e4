"""A complete local environment for the demo and the end-to-end tests.

Everything lives under one folder (``.demo/`` for ``make demo``): the test PKI, a stand-in SPOR
service, a synthetic OPS database, the state database and an AIRFLOW_HOME. Airflow is pointed at
them with ``AIRFLOW_CONN_*`` / ``AIRFLOW_VAR_*`` environment variables, exactly as a site would
configure its own systems, so the DAGs run unchanged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = ROOT / "plugins"
DAGS = ROOT / "dags"


@dataclass
class LocalEnv:
    base: Path
    endpoint: str | None = None
    units: dict[str, str] = field(default_factory=dict)

    @property
    def ops_db(self) -> Path:
        return self.base / "ops.sqlite"

    @property
    def state_db(self) -> Path:
        return self.base / "state.sqlite"

    @property
    def pki(self) -> Path:
        return self.base / "pki"

    @property
    def received(self) -> Path:
        return self.base / "received"

    @property
    def airflow_home(self) -> Path:
        return self.base / "airflow"

    @property
    def manifest(self) -> Path:
        return self.base / "ops.manifest.json"

    @property
    def lineage(self) -> Path:
        return self.base / "lineage"

    def lineage_settings(self) -> dict[str, str]:
        """Airflow's OpenLineage provider writes every event of the runs as one JSON file in
        ``lineage/`` (its file transport; docs/lineage.md)."""
        self.lineage.mkdir(parents=True, exist_ok=True)
        return {
            "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps({"type": "file", "log_file_path": str(self.lineage / "event")}),
            "AIRFLOW__OPENLINEAGE__NAMESPACE": "spor-demo",
        }

    def airflow_settings(self) -> dict[str, str]:
        """Where Airflow keeps its own metadata, and where it finds our DAGs and plugins."""
        return {
            "AIRFLOW_HOME": str(self.airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.airflow_home / 'airflow.db'}",
            "AIRFLOW__CORE__PARALLELISM": "4",
        }

    def connections(self, *, spor_extra: dict[str, Any] | None = None) -> dict[str, str]:
        """The three connections and two variables a site configures, as environment variables."""
        if self.endpoint is None:
            raise RuntimeError("start the stand-in first")
        extra = {
            "endpoint": self.endpoint,
            "environment": "stage",
            "cert_file": str(self.pki / "client.pem"),
            "key_file": str(self.pki / "client.key"),
            "ca_bundle": str(self.pki / "ca.pem"),
            "read_timeout": 10,
        }
        extra.update(spor_extra or {})
        return {
            "AIRFLOW_CONN_SPOR_OPS": json.dumps({"conn_type": "sqlite", "host": str(self.ops_db)}),
            "AIRFLOW_CONN_SPOR_STATE": json.dumps({"conn_type": "sqlite", "host": str(self.state_db)}),
            "AIRFLOW_CONN_SPOR_DEFAULT": json.dumps({"conn_type": "spor", "extra": extra}),
            "AIRFLOW_VAR_SPOR_UNITS": json.dumps(self.units),
        }


def make_pki(env: LocalEnv) -> None:
    from standin.make_pki import make_pki as _make

    _make(env.pki)


def make_ops(env: LocalEnv, *, n: int, seed: int = 1, start=None, days: int = 30) -> Any:
    """Fill a fresh synthetic OPS database; returns the manifest."""
    from datetime import date

    from spor.synthetic import generate

    if env.ops_db.exists():
        env.ops_db.unlink()
    manifest = generate(f"sqlite:///{env.ops_db}", n=n, seed=seed, start=start or date(2025, 11, 1), days=days,
                        manifest_path=env.manifest)
    env.units = dict(manifest.units)
    return manifest


def migrate_airflow(env: LocalEnv) -> None:
    """Create Airflow's metadata database and the ``spor`` pool from pools.json."""
    environ = os.environ | env.airflow_settings()
    env.airflow_home.mkdir(parents=True, exist_ok=True)
    airflow = [sys.executable, "-m", "airflow"]
    subprocess.run([*airflow, "db", "migrate"], env=environ, check=True, capture_output=True)
    subprocess.run([*airflow, "pools", "import", str(ROOT / "pools.json")], env=environ, check=True,
                   capture_output=True)
