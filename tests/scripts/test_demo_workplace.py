"""The demo as a place to work: after `scripts/demo.py` (what `make demo` runs), a new shell with
only `.demo/env.sh` runs the README's commands as documented; the commands that read a database
refuse a missing one instead of creating it; `scripts/ui.py --check` (what `make ui` starts)
brings up the stand-in and `airflow standalone`, and a `spor_nightly` triggered through the REST
API sends the second day of changes the demo left waiting to the stand-in.

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
