"""`make ui`: the demo in the Airflow UI. Starts the stand-in SPOR service and `airflow standalone`
(API server, scheduler, DAG processor, triggerer) on `.demo/` with `.demo/env.json` (running
`make demo` first only when `.demo/` does not exist), prints the URL and the login, and on Ctrl-C
stops everything it started.

The stack runs on the demo's simulated clock, starting at the night after the demo's second day of
changes: the demo's nights are then the last ones on the status page, and a run behaves the same
at any hour. The scheduler cannot use that clock, so it creates no runs of the DAGs' schedules
here (``[scheduler] use_job_schedule = False``): a run on the real date would send nothing and
miss its real 05:00. Trigger runs a DAG now.

The environment: the user's ``AIRFLOW__*`` variables pass through (e.g. ``AIRFLOW__CORE__TEST_CONNECTION``,
enabled here by default), except the demo's own keys (home, metadata database, folders, ports,
login: ``.demo/env.json``), which win. The log servers of the worker and the triggerer get free
ports unless the user names them; a port the stack needs and cannot bind is reported before
anything starts. The demo's ``spor_default`` connection is written into the metadata database
(with its endpoint's port, docs/connection.md), where Admin → Connections shows it and its Test
button works; Ctrl-C stops everything within seconds.

`--check` is the same stack as a test (CI runs it through `make test`): it triggers `spor_nightly`
through the REST API, unpauses it, waits for the run, checks that the second day of changes
the demo left in the OPS (`.demo/second_night.json`) reached the stand-in, that the status
page lists the run, that the run's sending window closed at the simulated night's 05:00, and
that the scheduler created no run of its own and marked no deadline missed. It uses the ports
given.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from devenv.workplace import LOGIN, on_port

ROOT = Path(__file__).resolve().parents[1]

NEXT_NIGHT = "2025-12-02T01:00:00+01:00"  # the night after the demo's second day of changes
#: The demo's defaults a user's own AIRFLOW__* variable may change.
DEMO_DEFAULTS = {
    "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",       # the Test button of Admin → Connections
    "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",   # no scheduled run on the real date (see above)
}
LOG_SERVER_PORTS = {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": "the worker's log server",
                    "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": "the triggerer's log server"}
#: Each stop signal to Airflow's process group and the seconds it gets before the next, harder
#: one: Ctrl-C stops everything within 10 s.
STOP_SIGNALS = ((signal.SIGINT, 4.0), (signal.SIGTERM, 3.0), (signal.SIGKILL, 1.0))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=ROOT / ".demo")
    parser.add_argument("--api-port", type=int, help="port of the Airflow UI (default: .demo/env.json, 8080)")
    parser.add_argument("--standin-port", type=int, help="port of the stand-in (default: .demo/env.json, 8443)")
    # the log servers' ports: AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT / _TRIGGER_LOG_SERVER_PORT (default: free ones)
    parser.add_argument("--check", action="store_true", help="trigger spor_nightly, check what arrives, stop")
    parser.add_argument("--timeout", type=float, default=900, help="--check: seconds for the whole check")
    args = parser.parse_args(argv)

    started = datetime.now(UTC)  # runs the scheduler made before this start are not this stack's
    base = args.dir.resolve()
    if not (base / "env.json").exists():
        print(f"== {base} has no demo yet: running the demo first", flush=True)
        done = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), "--dir", str(base)], cwd=ROOT)
        if done.returncode != 0:
            return done.returncode
    environ = settings(base, api_port=args.api_port, standin_port=args.standin_port, clock=NEXT_NIGHT)
    if taken := ports_taken(environ):
        for port, what in taken:
            print(f"port {port} ({what}) is taken: {PORT_HINTS.get(what, 'choose another')}", file=sys.stderr)
        return 1
    # Ctrl-C stops everything even when a parent started us with SIGINT ignored (a background job
    # of a non-interactive shell): Python then leaves it ignored instead of raising KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    stack = Stack(base, environ)
    previous = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        stack.start(timeout=args.timeout)
        url = environ["AIRFLOW__API__BASE_URL"]
        print(f"\n== Airflow UI: {url}   login: {LOGIN[0]} / {LOGIN[1]}")
        print(f"   stand-in SPOR: {environ['SPOR_ENDPOINT']} (requests in {base / 'received'})")
        print(f"   the tasks' clock is simulated: it started at {NEXT_NIGHT}, the demo's next night")
        print("   the DAGs start paused; Trigger runs one now (unpause it to let the run start). The scheduler "
              "creates no runs of the schedules here: its clock is the real one")
        print("   Admin → Connections: spor_default (the stand-in) with its Test button")
        print(f"   logs: {base / 'airflow' / 'standalone.log'}; Ctrl-C stops everything started here\n", flush=True)
        if args.check:
            return check(base, url, timeout=args.timeout, environ=environ, started=started)
        while stack.alive():
            time.sleep(1)
        print("a component stopped; see the log above", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        stack.stop()


def settings(base: Path, *, api_port: int | None, standin_port: int | None, clock: str | None,
             user: dict[str, str] | None = None) -> dict[str, str]:
    """The process environment of the stack: the user's (``user``, default this process's) without
    Airflow connections, Variables and home, over the demo's defaults; then the demo's env.json, the
    ports and the simulated clock, which win."""
    saved = json.loads((base / "env.json").read_text())
    venv_bin = saved.pop("SPOR_VENV_BIN")
    user = dict(os.environ if user is None else user)
    kept = {k: v for k, v in user.items()
            if k.startswith("AIRFLOW__") or not k.startswith(("AIRFLOW_", "SPOR_CLOCK_"))}
    environ = DEMO_DEFAULTS | kept | saved | {"PATH": f"{venv_bin}:{user.get('PATH', '/usr/bin:/bin')}"}
    spor = json.loads(environ["AIRFLOW_CONN_SPOR_DEFAULT"])
    port = standin_port or int(environ["SPOR_STANDIN_PORT"])
    spor["extra"]["endpoint"] = on_port(spor["extra"]["endpoint"], port)
    environ |= {"AIRFLOW_CONN_SPOR_DEFAULT": json.dumps(spor), "SPOR_STANDIN_PORT": str(port),
                "SPOR_ENDPOINT": spor["extra"]["endpoint"]}
    if api_port:
        environ |= {"AIRFLOW__API__PORT": str(api_port), "AIRFLOW__API__BASE_URL": f"http://localhost:{api_port}",
                    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{api_port}/execution/"}
    for key in LOG_SERVER_PORTS:
        environ.setdefault(key, str(free_port()))
    if clock:
        environ |= {"SPOR_CLOCK_START": clock, "SPOR_CLOCK_ANCHOR": str(time.time()), "SPOR_CLOCK_SPEED": "1"}
    return environ


PORT_HINTS = {"the Airflow UI": "choose another with --api-port N",
              "the stand-in SPOR service": "choose another with --standin-port N",
              **{what: f"set {key} to a free one, or leave it unset for a free one"
                 for key, what in LOG_SERVER_PORTS.items()}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


def ports_taken(environ: dict[str, str]) -> list[tuple[int, str]]:
    """The ports the stack listens on that something else holds already, with what needs each."""
    wanted = {int(environ.get("AIRFLOW__API__PORT", "8080")): "the Airflow UI",
              int(environ["SPOR_STANDIN_PORT"]): "the stand-in SPOR service",
              **{int(environ[key]): what for key, what in LOG_SERVER_PORTS.items()}}
    taken = []
    for port, what in wanted.items():
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: TIME_WAIT is free
            try:
                s.bind(("", port))
            except OSError:
                taken.append((port, what))
    return taken


class Stack:
    """The stand-in and `airflow standalone`, each in its own process group so that Ctrl-C in the
    terminal reaches this script only and it stops them in order."""

    def __init__(self, base: Path, environ: dict[str, str]):
        self.base = base
        # The demo's SPOR connection goes into the metadata database (store_spor_connection), not the
        # stack's environment: an environment variable would hide the one the UI shows and edits.
        self.spor_connection = json.loads(environ["AIRFLOW_CONN_SPOR_DEFAULT"])
        self.environ = {k: v for k, v in environ.items() if k != "AIRFLOW_CONN_SPOR_DEFAULT"}
        self.standin = None
        self.airflow: subprocess.Popen | None = None

    def start(self, *, timeout: float) -> None:
        from standin.server import start_subprocess

        units = json.loads(self.environ["AIRFLOW_VAR_SPOR_UNITS"])
        self.standin = start_subprocess(
            ["--pki", str(self.base / "pki"), "--received", str(self.base / "received"),
             "--port", self.environ["SPOR_STANDIN_PORT"], "--system-ids", ",".join(units.values())],
            env=self.environ)
        print(f"== stand-in SPOR listening: {self.standin.url}", flush=True)
        log = open(self.base / "airflow" / "standalone.log", "a")
        self.airflow = subprocess.Popen([sys.executable, "-m", "airflow", "standalone"], env=self.environ, cwd=ROOT,
                                        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        print(f"== airflow standalone started (pid {self.airflow.pid}); waiting for it to be ready …", flush=True)
        url = self.environ["AIRFLOW__API__BASE_URL"]
        wait_healthy(url, timeout=timeout, process=self.airflow)
        store_spor_connection(url, self.spor_connection)

    def alive(self) -> bool:
        return self.airflow is not None and self.airflow.poll() is None and self.standin.process.poll() is None

    def stop(self) -> None:
        if self.standin is not None and self.standin.process.poll() is None:
            self.standin.process.send_signal(signal.SIGTERM)  # stops while Airflow does
        if self.airflow is not None:
            if self.airflow.poll() is None:
                print("== stopping airflow standalone …", flush=True)
            # standalone stops its components on SIGINT; what is left of its group gets SIGTERM, then SIGKILL
            for sig, grace in STOP_SIGNALS:
                if not _signal_group(self.airflow.pid, sig):
                    break
                until = time.monotonic() + grace
                while time.monotonic() < until and (self.airflow.poll() is None or _group_alive(self.airflow.pid)):
                    time.sleep(0.2)
                if self.airflow.poll() is not None and not _group_alive(self.airflow.pid):
                    break
            self.airflow.wait()
        if self.standin is not None:
            self.standin.stop(timeout=2)
            print("== stand-in stopped", flush=True)


def _signal_group(pgid: int, sig: signal.Signals) -> bool:
    try:
        os.killpg(pgid, sig)
        return True
    except ProcessLookupError:
        return False


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def store_spor_connection(url: str, spor: dict) -> None:
    """The demo's ``spor_default`` in the metadata database, as the UI would store it: the endpoint
    in Host and its port in Port (Airflow 3.3.2's Test button of a stored connection needs a stored port)."""
    from spor.transport.connection import endpoint_port

    extra = dict(spor["extra"])
    endpoint = extra.pop("endpoint")
    body = {"connection_id": "spor_default", "conn_type": "spor", "host": endpoint, "port": endpoint_port(endpoint),
            "password": spor.get("password"), "extra": json.dumps(extra)}
    token = api(url, "POST", "/auth/token", body={"username": LOGIN[0], "password": LOGIN[1]})["access_token"]
    try:
        api(url, "POST", "/api/v2/connections", token, body)
    except urllib.error.HTTPError as exc:
        if exc.code != 409:  # 409: it exists from an earlier start; the stand-in's port may have changed
            raise
        api(url, "PATCH", "/api/v2/connections/spor_default", token, body)


def wait_healthy(url: str, *, timeout: float, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"airflow standalone exited ({process.returncode})")
        try:
            with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=5) as answer:
                health = json.load(answer)
            if all((health.get(c) or {}).get("status") == "healthy" for c in ("metadatabase", "scheduler", "triggerer")):
                return
        except OSError:
            pass
        time.sleep(2)
    raise SystemExit(f"Airflow at {url} not healthy after {timeout:.0f} s")


def api(url: str, method: str, path: str, token: str | None = None, body: dict | None = None) -> dict:
    request = urllib.request.Request(f"{url}{path}", method=method, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def check(base: Path, url: str, *, timeout: float, environ: dict[str, str], started: datetime) -> int:
    """Trigger spor_nightly as a user would in the UI and see the second day's changes arrive."""
    changed = set(json.loads((base / "second_night.json").read_text())["changed"])
    index = base / "received" / "index.jsonl"
    before = len(index.read_text().splitlines()) if index.exists() else 0
    token = api(url, "POST", "/auth/token", body={"username": LOGIN[0], "password": LOGIN[1]})["access_token"]
    run = api(url, "POST", "/api/v2/dags/spor_nightly/dagRuns", token, {"logical_date": None})
    api(url, "PATCH", "/api/v2/dags/spor_nightly", token, {"is_paused": False})
    print(f"== triggered spor_nightly {run['dag_run_id']} and unpaused it; waiting …", flush=True)
    deadline = time.monotonic() + timeout
    state = run["state"]
    while time.monotonic() < deadline and state not in ("success", "failed"):
        time.sleep(5)
        state = api(url, "GET", f"/api/v2/dags/spor_nightly/dagRuns/{run['dag_run_id']}", token)["state"]
    entries = [json.loads(line) for line in index.read_text().splitlines()[before:]] if index.exists() else []
    arrived = {e["behandlingsnummer"] for e in entries if e.get("stored")}
    print(f"== spor_nightly {run['dag_run_id']}: {state}; the stand-in received {len(entries)} requests, "
          f"{len(arrived & changed)} of the {len(changed)} treatments changed since the first night stored", flush=True)
    request = urllib.request.Request(f"{url}/spor/status", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        listed = run["dag_run_id"] in answer.read().decode()
    print(f"== status page lists the run: {listed}", flush=True)
    one_clock = check_one_clock(environ, run["dag_run_id"], started)
    return 0 if state == "success" and changed <= arrived and listed and one_clock else 1


def check_one_clock(environ: dict[str, str], run_id: str, started: datetime) -> bool:
    """The demo's run on the simulated clock only: its window closed at that night's 05:00 (less
    the send margin), the scheduler made no run of the schedule, and no deadline was missed."""
    from datetime import timedelta

    import sqlalchemy as sa

    from spor.clock import STOCKHOLM
    from spor.state.tables import run_event

    state = sa.create_engine(f"sqlite:///{json.loads(environ['AIRFLOW_CONN_SPOR_STATE'])['host']}")
    metadata = sa.create_engine(environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    try:
        with state.connect() as conn:
            data = conn.execute(sa.select(run_event.c.data_json).where(run_event.c.run_id == run_id,
                                                                       run_event.c.kind == "capacity")).scalar()
        with metadata.connect() as conn:
            scheduled = conn.execute(sa.text("SELECT count(*) FROM dag_run WHERE run_type = 'scheduled' "
                                             "AND created_at >= :t"), {"t": f"{started:%Y-%m-%d %H:%M:%S}"}).scalar()
            missed = conn.execute(sa.text("SELECT count(*) FROM deadline WHERE missed")).scalar()
    finally:
        state.dispose()
        metadata.dispose()
    closes = datetime.fromisoformat(json.loads(data or "{}").get("closes_at", "1970-01-01T00:00:00+00:00"))
    five = datetime.fromisoformat(NEXT_NIGHT).astimezone(STOCKHOLM).replace(hour=5, minute=0, second=0)
    at_five = five - timedelta(minutes=1) < closes <= five
    print(f"== one clock: the window closed at {closes.astimezone(STOCKHOLM):%Y-%m-%d %H:%M:%S %Z}; "
          f"scheduled runs made by the scheduler: {scheduled}; deadlines missed: {missed}", flush=True)
    return at_five and scheduled == 0 and missed == 0


if __name__ == "__main__":
    raise SystemExit(main())
