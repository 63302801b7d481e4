"""A real Airflow stack on this machine, as separate processes: scheduler, dag-processor, triggerer,
API server and Celery workers, each in its own process group so that stopping the stack kills
everything it started (also what those processes started in turn).

Used by ``make demo-celery``, the distributed tests and ``bench/bench_nightly.py --executor celery``.
Every process gets the same environment (connections, variables, simulated clock), except what must
differ per Celery worker: node name, working directory, temp dir and log-server port.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

PG_ADMIN_URL = os.environ.get("SPOR_PG_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("SPOR_REDIS_URL", "redis://127.0.0.1:6379")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def missing_services() -> list[str]:
    """What the distributed stack needs and this machine lacks, each with how to get it."""
    missing = []
    try:
        engine = sa.create_engine(PG_ADMIN_URL)
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means "not usable"
        missing.append(f"PostgreSQL at {PG_ADMIN_URL} ({type(exc).__name__}): install and start it "
                       "(apt-get install postgresql; pg_ctlcluster 15 main start) or set SPOR_PG_ADMIN_URL")
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means Redis is not usable
        missing.append(f"Redis at {REDIS_URL} ({type(exc).__name__}): install and start it "
                       "(apt-get install redis-server; redis-server --daemonize yes) or set SPOR_REDIS_URL")
    return missing


def database_url(name: str) -> sa.URL:
    """Database ``name`` on the PostgreSQL server of ``PG_ADMIN_URL``."""
    return sa.make_url(PG_ADMIN_URL).set(database=name)


def fresh_postgres_database(name: str) -> str:
    """Drop and create database ``name``; returns its SQLAlchemy URL."""
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return database_url(name).render_as_string(hide_password=False)


def drop_postgres_database(name: str) -> None:
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def celery_settings(*, metadata_url: str, redis_db: int) -> dict[str, str]:
    """CeleryExecutor with Redis as the broker and Airflow's database as the result backend."""
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
        "AIRFLOW__CELERY__BROKER_URL": f"{REDIS_URL}/{redis_db}",
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata_url,
        "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
        # only the run we trigger: unpausing must not add a scheduled run for the last 00:30
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        # a failure costs seconds, not minutes
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "5",
    }


def local_settings(*, metadata_url: str) -> dict[str, str]:
    """LocalExecutor on the same metadata database (for comparing executors)."""
    return {
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
    }


@dataclass
class Stack:
    """Processes of one Airflow installation; ``env`` is what every process gets."""

    home: Path
    env: dict[str, str]
    logs: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    api_port: int = 0

    def airflow(self, *args: str, env: dict[str, str] | None = None, check: bool = True,
                timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "airflow", *args], env=env or self.env, capture_output=True,
                              text=True, check=check, timeout=timeout, cwd=self.home)

    def _start(self, name: str, args: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        out = open(self.logs / f"{name}.log", "w")
        self.processes[name] = subprocess.Popen([sys.executable, "-m", "airflow", *args], env=env or self.env,
                                                stdout=out, stderr=subprocess.STDOUT, cwd=cwd or self.home,
                                                start_new_session=True)

    def start_api_server(self) -> str:
        """The API server alone (UI, REST and execution API) on a free port; returns its base URL."""
        self.api_port = self.api_port or free_port()
        self.env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"http://127.0.0.1:{self.api_port}/execution/"
        self._start("api-server", ["api-server", "--port", str(self.api_port)])
        self.wait_http(f"http://127.0.0.1:{self.api_port}/api/v2/monitor/health", timeout=180)
        return f"http://127.0.0.1:{self.api_port}"

    def start_core(self) -> None:
        """API server (the workers reach Airflow through its execution API), scheduler, dag-processor, triggerer."""
        self.start_api_server()
        for name in ("scheduler", "dag-processor", "triggerer"):
            self._start(name, [name])

    def start_celery_worker(self, name: str, *, queues: str = "default") -> None:
        """One worker with its own node name, working directory, temp dir and log-server port."""
        work = self.home / "workers" / name
        tmp = work / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        env = self.env | {"TMPDIR": str(tmp), "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                          "SPOR_WORKER_NAME": f"{name}@{socket.gethostname()}"}
        self._start(f"worker-{name}", ["celery", "worker", "--celery-hostname", f"{name}@%h", "--concurrency", "1",
                                       "--queues", queues], env=env, cwd=work)

    def ping_workers(self, names: list[str], timeout: float = 120) -> None:
        """Wait until every named worker answers a Celery ping."""
        from celery import Celery

        app = Celery(broker=self.env["AIRFLOW__CELERY__BROKER_URL"])
        deadline = time.monotonic() + timeout
        wanted = {f"{n}@{socket.gethostname()}" for n in names}
        while time.monotonic() < deadline:
            answered = {k for reply in (app.control.ping(timeout=2) or []) for k in reply}
            if wanted <= answered:
                return
            self.check_alive()
            time.sleep(1)
        raise RuntimeError(f"Celery workers {sorted(wanted)} did not answer a ping in {timeout} s")

    def check_alive(self) -> None:
        dead = {n: p.returncode for n, p in self.processes.items() if p.poll() is not None}
        if dead:
            raise RuntimeError(f"stopped early: {dead}; see the logs in {self.logs}")

    @staticmethod
    def wait_http(url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(url, timeout=2)
                return
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(1)
        raise RuntimeError(f"{url} did not answer in {timeout} s")

    def metadata(self, sql: str, **params):
        """One row of Airflow's metadata database (read directly: the CLI mixes logs into its output)."""
        engine = sa.create_engine(self.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
        try:
            with engine.connect() as conn:
                return conn.execute(sa.text(sql), params).first()
        finally:
            engine.dispose()

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> None:
        """The dag-processor has parsed the file into the metadata database."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.metadata("SELECT dag_id FROM dag WHERE dag_id = :d", d=dag_id) is not None:
                return
            self.check_alive()
            time.sleep(2)
        raise TimeoutError(f"{dag_id} was not parsed in {timeout} s")

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float) -> str:
        """The run's final state (success/failed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            row = self.metadata("SELECT state FROM dag_run WHERE dag_id = :d AND run_id = :r", d=dag_id, r=run_id)
            if row is not None and row[0] in ("success", "failed"):
                return row[0]
            time.sleep(3)
        raise TimeoutError(f"{dag_id} {run_id} did not finish in {timeout} s")

    def stop(self) -> None:
        """SIGTERM every process group, SIGKILL what is left after 20 s."""
        for proc in self.processes.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 20
        for proc in self.processes.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
