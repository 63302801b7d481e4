"""The demo as a place to work: after `scripts/demo.py` (what `make demo` runs), a new shell with
only `.demo/env.sh` runs the README's commands as documented; every report kind `spor report`
prints is what it says it is (JSON through `python -m json.tool`, HTML from its first byte); the
commands that read a database refuse a missing one instead of creating it; the `spor` commands
find connections and Variables created through the REST API of the demo's Airflow (its metadata
database), and a machine without that database does not; `scripts/ui.py --check` (what `make ui`
starts) brings up the stand-in and `airflow standalone`, and a `spor_nightly` triggered through
the REST API sends the second day of changes the demo left waiting to the stand-in.

One demo (600 treatments, 100 changed the next day) serves every test of the module.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.xdist_group("demo")
README = ROOT / "README.md"


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """A finished demo under WORK/.demo; returns WORK (the README's commands run from there)."""
    work = tmp_path_factory.mktemp("workplace")
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), "--dir", str(work / ".demo"),
                           "--treatments", "600", "--second-night", "100"], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "source " in done.stdout and "make ui" in done.stdout  # the demo says how to go on
    return work


def _new_shell(work: Path, script: str) -> subprocess.CompletedProcess:
    """bash with nothing of this process's environment: no AIRFLOW_*, no venv on PATH."""
    return subprocess.run(["bash", "-c", script], cwd=work, env={"HOME": str(work), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=600)


def _readme_block(heading: str) -> str:
    section = README.read_text().split(heading, 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def test_readme_commands_after_the_demo_work_in_a_new_shell_with_env_sh(demo, tmp_path):
    block = _readme_block("## Work with the demo")
    assert block.startswith("source .demo/env.sh")
    assert all(c in block for c in ("spor report", "spor render", "airflow dags trigger spor_resend"))
    script = "set -euo pipefail\n" + block.replace("/tmp/spor-preview", str(tmp_path / "preview"))
    run = _new_shell(demo, script)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    assert "SPOR run summary — spor_nightly" in out
    # render: the next night builds everything again, and would send just the 100 changed ones
    counts = re.search(r"^rendered (\d+) \(warned \d+\).*the night would skip (\d+) as unchanged$", out, re.M)
    assert counts, out[-2000:]
    changed = json.loads((demo / ".demo" / "second_night.json").read_text())["changed"]
    assert int(counts.group(1)) - int(counts.group(2)) == len(changed) == 100
    assert len(list((tmp_path / "preview").glob("*.xml"))) == int(counts.group(1))
    # the trigger reached the demo's metadata database (not a new ~/airflow)
    assert re.search(r"spor_resend\s*\|\s*manual__\S+\s*\|\s*queued", out), out[-2000:]
    assert not (demo / "airflow").exists()
    assert "No module named" not in run.stderr and "airflow db migrate" not in run.stderr
    # render lists held-back treatments, and counts the unchanged ones (each only with --verbose)
    assert not re.search(r"^\S+\s+unchanged\s", out, re.M), out[-2000:]
    assert "Context impl" not in out and "Loading 'datasources'" not in out, out[-2000:]


def test_every_report_kind_is_json_or_html_from_the_first_byte_in_a_new_shell(demo, tmp_path):
    """`spor report --kind quality-json | python -m json.tool` after `source .demo/env.sh`, for every
    kind the demo's run kept: standard output holds the report alone, no log line."""
    from spor.cli.main import SUMMARY, report_kinds

    listed = _new_shell(demo, "source .demo/env.sh\nspor report")
    assert listed.returncode == 0, listed.stderr[-2000:]
    kept = {line.split()[2] for line in listed.stdout.splitlines()}
    assert {"quality", "quality-json", "stage-approval", "coverage-json"} <= kept <= set(report_kinds()), listed.stdout
    kinds = sorted(kept | {SUMMARY})
    script = ["set -euo pipefail", "source .demo/env.sh"]
    for kind in kinds:
        show = f'spor report --run-id "$SPOR_DEMO_RUN_ID" --kind {kind}'
        script.append(f"{show} | python -m json.tool > {tmp_path / kind}" if kind.endswith("-json")
                      else f"{show} > {tmp_path / kind}")
    run = _new_shell(demo, "\n".join(script))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    for kind in kinds:
        text = (tmp_path / kind).read_text(encoding="utf-8")
        if kind.endswith("-json"):
            json.loads(text)
        elif kind == SUMMARY:
            assert text.startswith("SPOR run summary — spor_nightly"), text[:300]
        else:
            assert text.lower().startswith("<!doctype html>"), (kind, text[:300])
    assert "Context impl" not in run.stderr and "Will assume" not in run.stderr  # quiet without --verbose


def test_commands_refuse_a_missing_database_and_create_none(demo, tmp_path):
    missing = tmp_path / "nowhere.sqlite"
    conn = json.dumps({"conn_type": "sqlite", "host": str(missing)})
    script = (f"source .demo/env.sh\nexport AIRFLOW_CONN_SPOR_STATE='{conn}'\n"
              "spor report --run-id \"$SPOR_DEMO_RUN_ID\" --kind summary; echo \"report=$?\"\n"
              f"spor render --db sqlite:///{missing} --out {tmp_path / 'out'} --all; echo \"render=$?\"\n"
              "unset AIRFLOW_CONN_SPOR_OPS\n"
              f"spor render --db spor_ops --out {tmp_path / 'out'} --all; echo \"render_conn=$?\"\n"
              "spor removal list; echo \"removal=$?\"\n"
              "spor audit --behandlingsnummer 1001 --no-ops; echo \"audit=$?\"\n")
    run = _new_shell(demo, script)
    text = run.stdout + run.stderr
    assert "report=2" in text and "render=2" in text and "render_conn=2" in text, text[-2000:]
    assert "removal=2" in text and "audit=2" in text, text[-2000:]
    assert f"the state database {missing} (connection 'spor_state') does not exist" in text
    assert f"the OPS database {missing} does not exist" in text
    assert "no Airflow connection 'spor_ops'" in text and "source .demo/env.sh" in text
    assert not missing.exists() and not (demo / "spor_state.sqlite").exists()


def test_demo_task_logs_carry_no_gx_registration_noise(demo):
    log = (demo / ".demo" / "spor_nightly.log").read_text()
    assert "quality gate run" in log  # the gate ran in this log
    assert "Skipping registering function" not in log


@pytest.fixture
def api_server(demo, tmp_path):
    """The demo's Airflow API server (REST API and UI on the demo's metadata database) and a token."""
    from devenv.stack import Stack

    env = json.loads((demo / ".demo" / "env.json").read_text()) | {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(demo), "AIRFLOW__API__WORKERS": "1"}
    stack = Stack(home=Path(env["AIRFLOW_HOME"]), env=env, logs=tmp_path / "api-logs")
    try:
        url = stack.start_api_server()
        token = _api(url, "POST", "/auth/token", body={"username": "admin", "password": "admin"})["access_token"]
        yield url, token
    finally:
        stack.stop()


def _api(url: str, method: str, path: str, token: str | None = None, body: dict | None = None) -> dict:
    import urllib.request

    request = urllib.request.Request(f"{url}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.urlopen(request, timeout=60) as answer:
        raw = answer.read()
    return json.loads(raw) if raw else {}


def test_spor_commands_find_connections_and_variables_created_through_the_rest_api(demo, api_server, standin,
                                                                                    standin_pki, tmp_path):
    """A connection created in the UI lives in the metadata database, which the Task SDK does not
    read outside a task: `spor check-connection` still finds it (R2: the mutual-TLS check against
    the stand-in succeeds), the state database and `spor_units` too; with no metadata database
    (a worker) only environment variables count."""
    url, token = api_server
    extra = {"environment": "stage", "cert_file": str(standin_pki.client_cert),
             "key_file": str(standin_pki.dir / "client.key"), "ca_bundle": str(standin_pki.ca_cert)}
    state = json.loads((demo / ".demo" / "env.json").read_text())["AIRFLOW_CONN_SPOR_STATE"]
    units = json.loads((demo / ".demo" / "env.json").read_text())["AIRFLOW_VAR_SPOR_UNITS"]
    created = [("connections", "spor_from_ui"), ("connections", "spor_state_from_ui"), ("variables", "spor_units")]
    try:
        _api(url, "POST", "/api/v2/connections", token, {"connection_id": "spor_from_ui", "conn_type": "spor",
                                                         "host": standin.url, "extra": json.dumps(extra)})
        _api(url, "POST", "/api/v2/connections", token, {"connection_id": "spor_state_from_ui", "conn_type": "sqlite",
                                                         "host": json.loads(state)["host"]})
        _api(url, "POST", "/api/v2/variables", token, {"key": "spor_units", "value": units})
        first = json.loads((demo / ".demo" / "second_night.json").read_text())["changed"][0]
        run = _new_shell(demo, "source .demo/env.sh\n"
                         "spor check-connection --conn-id spor_from_ui; echo \"check=$?\"\n"
                         "spor report --state spor_state_from_ui; echo \"report=$?\"\n"
                         "unset AIRFLOW_VAR_SPOR_UNITS\n"
                         f"spor render --db spor_ops --out {tmp_path / 'preview'} --behandlingsnummer {first}; "
                         "echo \"render=$?\"\n"
                         "export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=sqlite:////nonexistent/airflow.db\n"
                         "spor check-connection --conn-id spor_from_ui; echo \"worker=$?\"\n")
        out = run.stdout
        assert "check=0" in out and "reached SPOR stage" in out, out + run.stderr[-2000:]
        assert "report=0" in out and "quality-json" in out, out + run.stderr[-2000:]
        assert "render=0" in out and re.search(r"^rendered \d+ ", out, re.M), out + run.stderr[-2000:]
        assert "worker=1" in out and "spor_from_ui` isn't defined" in out, out
        assert not Path("/nonexistent").exists()
    finally:
        for kind, key in created:
            try:
                _api(url, "DELETE", f"/api/v2/{kind}/{key}", token)
            except Exception:  # noqa: BLE001 - not created: nothing to delete
                pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ui_stack_sends_the_second_nights_changes_when_spor_nightly_is_triggered(demo):
    """make ui's stack (airflow standalone: API server, scheduler, DAG processor, triggerer) on the
    demo; spor_nightly triggered through the REST API as the UI's Trigger button does."""
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "ui.py"), "--dir", str(demo / ".demo"), "--check",
                          "--api-port", str(_free_port()), "--standin-port", str(_free_port())],
                         cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "login: admin / admin" in run.stdout
    assert re.search(r"spor_nightly \S+: success; the stand-in received \d+ requests, 100 of the 100", run.stdout)
    # one clock: the window closed at the simulated night's 05:00 (less the 5 s margin), the
    # scheduler made no run on the real date, and no run was marked "Deadline Missed"
    assert ("== one clock: the window closed at 2025-12-02 04:59:55 CET; scheduled runs made by the scheduler: 0; "
            "deadlines missed: 0") in run.stdout, run.stdout[-3000:]
    assert "stand-in stopped" in run.stdout


def _chromium() -> str:
    import os
    import shutil

    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no chromium on PATH: .ci/run installs Debian's chromium")
        pytest.skip("no chromium on PATH (apt-get install -y chromium)")
    return found


class _MakeUi:
    """`scripts/ui.py` (what `make ui` runs) in a process group of its own, as a terminal runs it;
    its standard output is read line by line on a thread."""

    def __init__(self, demo: Path, api_port: int, standin_port: int):
        import queue
        import signal
        import threading

        # Started with SIGINT ignored, as a background job of a non-interactive shell starts it (a
        # CI runner's, or `nohup … &`): Ctrl-C must stop it all the same.
        self.process = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "ui.py"), "--dir", str(demo / ".demo"),
                                         "--api-port", str(api_port), "--standin-port", str(standin_port)],
                                        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        start_new_session=True,
                                        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=lambda: [self.lines.put(x) for x in self.process.stdout], daemon=True).start()

    def wait_for(self, text: str, timeout: float) -> None:
        import queue
        import time

        until = time.monotonic() + timeout
        while time.monotonic() < until:
            try:
                self.seen.append(self.lines.get(timeout=1))
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            if text in self.seen[-1]:
                return
        raise AssertionError(f"no {text!r} from make ui:\n" + "".join(self.seen[-40:]))

    def ctrl_c(self) -> float | None:
        """SIGINT to the foreground process group, as Ctrl-C in the terminal; seconds until it exited
        (None: still running after 60 s)."""
        import os
        import signal
        import time

        start = time.monotonic()
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            return None
        return time.monotonic() - start

    def kill(self) -> None:
        """SIGKILL what is left of make ui (its group and Airflow's): nothing outlives a failed test."""
        import os
        import re
        import signal

        groups = [self.process.pid] + [int(m.group(1)) for line in self.seen
                                       if (m := re.search(r"airflow standalone started \(pid (\d+)\)", line))]
        for group in groups:
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait(30)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("", port))
            return True
        except OSError:
            return False


def test_R2_make_ui_test_button_of_the_stored_spor_connection_then_a_wrong_ca_and_ctrl_c(demo):
    """In `make ui`, Admin → Connections lists the demo's spor_default (stored with its endpoint's
    port); pressing its Test button in headless Chromium reaches the stand-in over mutual TLS and
    shows the success with the check's line; a stored connection with a foreign CA shows the
    project's one-line "wrong CA". (Airflow 3.3.2 has the Test button on the connection's row, next
    to Edit, and sends the stored host and port: a stored empty port went as 0 and got HTTP 400.)
    Ctrl-C then stops everything within 10 s and frees the ports; a taken port is reported."""
    import re

    from playwright.sync_api import expect, sync_playwright

    chromium = _chromium()
    api_port, standin_port = _free_port(), _free_port()
    ui = _MakeUi(demo, api_port, standin_port)
    stopped_after = None
    try:
        ui.wait_for("Ctrl-C stops everything", timeout=600)
        base = f"http://localhost:{api_port}"
        token = _api(base, "POST", "/auth/token", body={"username": "admin", "password": "admin"})["access_token"]
        stored = _api(base, "GET", "/api/v2/connections/spor_default", token)
        assert stored["port"] == standin_port and stored["host"].startswith(f"https://127.0.0.1:{standin_port}/")
        wrong_ca = json.loads(stored["extra"]) | {"ca_bundle": str(demo / ".demo" / "pki" / "other-ca.pem")}
        _api(base, "POST", "/api/v2/connections", token, {
            "connection_id": "spor_wrong_ca", "conn_type": "spor", "host": stored["host"], "port": stored["port"],
            "extra": json.dumps(wrong_ca)})
        # while it runs, a second make ui on the same ports says which port is taken and starts nothing
        second = subprocess.run([sys.executable, str(ROOT / "scripts" / "ui.py"), "--dir", str(demo / ".demo"),
                                 "--api-port", str(api_port), "--standin-port", str(_free_port())],
                                cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert second.returncode == 1 and f"port {api_port} (the Airflow UI) is taken: choose another with --api-port" \
            in second.stderr, second.stdout[-2000:] + second.stderr[-2000:]

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{base}/auth/login?next=/connections")
            page.get_by_label(re.compile("user", re.I)).fill("admin")
            page.get_by_label(re.compile("password", re.I)).fill("admin")
            page.get_by_role("button", name=re.compile("sign in|log ?in", re.I)).click()
            page.wait_for_url(lambda url: "/auth/login" not in url, timeout=60_000)
            page.goto(f"{base}/connections")
            row = page.locator("tr", has_text="spor_default")
            expect(row).to_be_visible(timeout=60_000)
            expect(row.get_by_role("button", name="Edit Connection")).to_be_visible()
            row.get_by_role("button", name="Test Connection").click()
            expect(page.get_by_text("Test Connection Successful")).to_be_visible(timeout=60_000)
            expect(page.get_by_text(re.compile(r"reached SPOR stage .*mutual TLS"))).to_be_visible()

            page.reload()
            row = page.locator("tr", has_text="spor_wrong_ca")
            expect(row).to_be_visible(timeout=60_000)
            row.get_by_role("button", name="Test Connection").click()
            expect(page.get_by_text("Test Connection Failed")).to_be_visible(timeout=60_000)
            failure = page.get_by_text(re.compile(r"^wrong CA"))
            expect(failure).to_be_visible()
            assert "\n" not in failure.inner_text().strip()
            browser.close()
    finally:
        if ui.process.poll() is None:
            stopped_after = ui.ctrl_c()
        ports_freed = _port_free(api_port) and _port_free(standin_port)
        ui.kill()  # whatever outlived it, so that it cannot load the rest of the suite
    output = "".join(ui.seen) + "".join(iter(lambda: ui.lines.get() if not ui.lines.empty() else "", ""))
    assert stopped_after is not None, f"make ui still ran 60 s after Ctrl-C:\n{output[-2000:]}"
    assert stopped_after < 10, f"Ctrl-C took {stopped_after:.1f} s:\n{output[-2000:]}"
    assert "stand-in stopped" in output
    assert ports_freed, "a process of make ui outlived Ctrl-C"
