"""Shared setup for the end-to-end DAG tests: a LocalEnv with stand-in, OPS and connections."""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from conftest import DAGS, ROOT

import sys

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from devenv import LocalEnv, make_ops  # noqa: E402


@dataclass
class Night:
    env: LocalEnv
    manifest: Any
    standin: Any


def load_dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS / f"{dag_id}.py"))
    assert not bag.import_errors, bag.import_errors
    return bag.dags[dag_id]


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def start_night(tmp_path: Path, pki, *, n: int = 200, seed: int = 7, latency_ms: float = 0.0, **standin_kwargs: Any) -> Night:
    from standin.server import StandinConfig, run_in_thread

    import shutil

    env = LocalEnv(base=tmp_path)
    shutil.copytree(pki.dir, env.pki)  # the session's test PKI, under this night's folder
    manifest = make_ops(env, n=n, seed=seed)
    server = run_in_thread(StandinConfig(pki_dir=env.pki, received_dir=env.received, latency_ms=latency_ms,
                                         system_ids=frozenset(manifest.units.values()), **standin_kwargs))
    env.endpoint = server.url
    return Night(env, manifest, server)


def night_settings(night: Night, clock_start: str, *, speed: float = 1.0, config: dict | None = None,
                   spor_extra: dict | None = None) -> dict[str, str]:
    import json
    import time

    values = night.env.connections(spor_extra=spor_extra)
    values.update({
        "SPOR_CLOCK_START": clock_start,
        "SPOR_CLOCK_ANCHOR": str(time.time()),
        "SPOR_CLOCK_SPEED": str(speed),
        "AIRFLOW_VAR_SPOR_CONFIG": json.dumps(config or {}),
    })
    return values
