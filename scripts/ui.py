"""`make ui`: the demo in the Airflow UI. Starts the stand-in SPOR service and `airflow standalone`
(API server, scheduler, DAG processor, triggerer) on `.demo/` with `.demo/env.json` (running
`make demo` first only when `.demo/` does not exist), prints the URL and the login, and on Ctrl-C
stops everything it started.

The stack runs on the demo's simulated clock, starting at the night after the demo's second day of
changes: the demo's nights are then the last ones on the status page, and a run behaves the same
at any hour.

`--check` is the same stack as a test (CI runs it through `make test`): it triggers `spor_nightly`
through the REST API, unpauses it, waits for the run, checks that the second day of changes
the demo left in the OPS (`.demo/second_night.json`) reached the stand-in, and that the status
page lists the run. It uses the ports given.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from devenv.workplace import LOGIN, on_port

ROOT = Path(__file__).resolve().parents[1]

NEXT_NIGHT = "2025-12-02T01:00:00+01:00"  # the night after the demo's second day of changes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=ROOT / ".demo")
    parser.add_argument("--api-port", type=int, help="port of the Airflow UI (default: .demo/env.json, 8080)")
    parser.add_argument("--standin-port", type=int, help="port of the stand-in (default: .demo/env.json, 8443)")
    parser.add_argument("--check", action="store_true", help="trigger spor_nightly, check what arrives, stop")
    parser.add_argument("--timeout", type=float, default=900, help="--check: seconds for the whole check")
    args = parser.parse_args(argv)

    base = args.dir.resolve()
    if not (base / "env.json").exists():
        print(f"== {base} has no demo yet: running the demo first", flush=True)
        done = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), "--dir", str(base)], cwd=ROOT)
        if done.returncode != 0:
            return done.returncode
    environ = settings(base, api_port=args.api_port, standin_port=args.standin_port, clock=NEXT_NIGHT)
    stack = Stack(base, environ)
    previous = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        stack.start(timeout=args.timeout)
        url = environ["AIRFLOW__API__BASE_URL"]
        print(f"\n== Airflow UI: {url}   login: {LOGIN[0]} / {LOGIN[1]}")
        print(f"   stand-in SPOR: {environ['SPOR_ENDPOINT']} (requests in {base / 'received'})")
        print(f"   the tasks' clock is simulated: it started at {NEXT_NIGHT}, the demo's next night")
        print("   the DAGs start paused: unpause spor_nightly to let the scheduler run it (unpausing also "
              "creates the run of the last 00:30 night); Trigger runs it now")
        print(f"   logs: {base / 'airflow' / 'standalone.log'}; Ctrl-C stops everything started here\n", flush=True)
        if args.check:
            return check(base, url, timeout=args.timeout)
        while stack.alive():
            time.sleep(1)
        print("a component stopped; see the log above", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        stack.stop()


def settings(base: Path, *, api_port: int | None, standin_port: int | None, clock: str | None) -> dict[str, str]:
    """The process environment of the stack: this one, overlaid with the demo's env.json."""
    saved = json.loads((base / "env.json").read_text())
    venv_bin = saved.pop("SPOR_VENV_BIN")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__", "SPOR_CLOCK_"))}
    environ |= saved | {"PATH": f"{venv_bin}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    spor = json.loads(environ["AIRFLOW_CONN_SPOR_DEFAULT"])
    port = standin_port or int(environ["SPOR_STANDIN_PORT"])
    spor["extra"]["endpoint"] = on_port(spor["extra"]["endpoint"], port)
    environ |= {"AIRFLOW_CONN_SPOR_DEFAULT": json.dumps(spor), "SPOR_STANDIN_PORT": str(port),
                "SPOR_ENDPOINT": spor["extra"]["endpoint"]}
    if api_port:
        environ |= {"AIRFLOW__API__PORT": str(api_port), "AIRFLOW__API__BASE_URL": f"http://localhost:{api_port}",
                    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{api_port}/execution/"}
    if clock:
        environ |= {"SPOR_CLOCK_START": clock, "SPOR_CLOCK_ANCHOR": str(time.time()), "SPOR_CLOCK_SPEED": "1"}
    return environ


class Stack:
    """The stand-in and `airflow standalone`, each in its own process group so that Ctrl-C in the
    terminal reaches this script only and it stops them in order."""

    def __init__(self, base: Path, environ: dict[str, str]):
        self.base, self.environ = base, environ
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
        wait_healthy(self.environ["AIRFLOW__API__BASE_URL"], timeout=timeout, process=self.airflow)

    def alive(self) -> bool:
        return self.airflow is not None and self.airflow.poll() is None and self.standin.process.poll() is None

    def stop(self) -> None:
        if self.airflow is not None and self.airflow.poll() is None:
            print("== stopping airflow standalone …", flush=True)
            os.killpg(self.airflow.pid, signal.SIGINT)  # standalone stops its components on SIGINT
            try:
                self.airflow.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.airflow.pid, signal.SIGKILL)
                self.airflow.wait()
        if self.airflow is not None:
            try:  # a component that outlived standalone is still in its process group
                os.killpg(self.airflow.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        if self.standin is not None:
            self.standin.stop()
            print("== stand-in stopped", flush=True)


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


def check(base: Path, url: str, *, timeout: float) -> int:
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
    return 0 if state == "success" and changed <= arrived and listed else 1


if __name__ == "__main__":
    raise SystemExit(main())
