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
    assert "stand-in stopped" in run.stdout
