"""The two ways a platform team deploys the package, each in a fresh virtual environment:

- git-sync: the dependencies from requirements.txt, ``dags/`` and ``plugins/`` of the repository
  as Airflow's folders; the DAGs load and the UI plugin registers from the plugins folder;
- the wheel: ``pip install -c constraints.txt .`` (not editable) from a copy of the repository;
  then, from another directory, with no PYTHONPATH and nothing pointing into the repository, the
  installed package validates a built message against its XSD, loads every suite with its full
  count of expectations, lists the ``spor`` connection type, and a DAG folder holding only
  ``spor_nightly.py`` loads and runs once with ``dag.test`` against the stand-in.

It installs Airflow into a new venv (from pip's cache when warm): the slowest test of the suite.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, require_git_checkout

pytestmark = pytest.mark.xdist_group("airflow-stack")

NIGHT = "2025-12-01T01:00:00+01:00"

RUN_ONCE = textwrap.dedent("""
    import sys
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(dag_folder=sys.argv[1])
    assert not bag.import_errors, bag.import_errors
    from spor.notifications.deadline import for_dag_test
    run = for_dag_test(bag.dags["spor_nightly"]).test(logical_date=None)  # no scheduler: no deadline
    print("SPOR_RUN", run.run_id, run.state)
""")

CHECK_PACKAGE = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    import spor, spor.resources
    from lxml import etree
    from spor.quality.suites import load_gx_suites, load_suite_dicts

    site = Path(spor.__file__).resolve().parent
    locations = {name: str(spor.resources.location(name)) for name in spor.resources.OVERRIDES}
    xsd = etree.XMLSchema(etree.parse(str(spor.resources.location("schema") / "spor-registration-4_1.xsd")))
    messages = sorted(Path(sys.argv[1]).glob("*.xml"))
    valid = sum(xsd.validate(etree.parse(str(m)).getroot()) for m in messages)
    files = load_suite_dicts()
    suites = load_gx_suites()
    print(json.dumps({"package": str(site), "locations": locations, "messages": len(messages), "valid": valid,
                      "expected": {s["name"]: len(s["expectations"]) for s in files},
                      "loaded": {s.name: len(s.expectations) for s in suites}}))
""")


def _venv(path: Path) -> Path:
    subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", str(path)], check=True, timeout=300)
    python = path / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True, timeout=600,
                   capture_output=True)
    return python


def _pip(python: Path, *args: str, cwd: Path) -> None:
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW", "PYTHON", "SPOR_", "VIRTUAL_ENV")) and k != "PYTEST_XDIST_WORKER"}
    return {**env, **extra}


def _repo_copy(dest: Path) -> Path:
    """The repository's tracked files only (what a clean clone holds)."""
    files = subprocess.run([require_git_checkout(), "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, files):
        src = ROOT / name.decode()
        if src.is_file():
            (dest / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name.decode())
    return dest


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    """A synthetic OPS, a PKI and a running stand-in (from the dev venv: it never ships)."""
    from devenv import LocalEnv, make_ops, make_pki
    from standin.server import start_subprocess

    env = LocalEnv(tmp_path_factory.mktemp("night"))
    make_pki(env)
    manifest = make_ops(env, n=150)
    clock = {"SPOR_CLOCK_START": NIGHT, "SPOR_CLOCK_ANCHOR": str(time.time()), "SPOR_CLOCK_SPEED": "1"}
    standin = start_subprocess(["--pki", str(env.pki), "--received", str(env.received), "--port", "0",
                                "--system-ids", ",".join(manifest.units.values())], env=os.environ | clock)
    env.endpoint = standin.url
    try:
        yield env, manifest, clock
    finally:
        standin.stop()


def _airflow(python: Path, home: Path, dags: Path, plugins: Path, extra: dict[str, str]) -> dict[str, str]:
    return _clean_env({
        "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(dags), "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "PATH": f"{python.parent}:/usr/bin:/bin", **extra})


def _migrate(python: Path, env: dict[str, str], cwd: Path, pools: Path) -> None:
    for args in (["db", "migrate"], ["pools", "import", str(pools)]):
        done = subprocess.run([str(python), "-m", "airflow", *args], env=env, cwd=cwd, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]


def test_git_sync_and_wheel_installs(tmp_path, night):
    local, manifest, clock = night
    repo = _repo_copy(tmp_path / "clone")
    python = _venv(tmp_path / "venv")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    # --- git-sync: requirements.txt only, the repository's dags/ and plugins/ as Airflow's folders
    _pip(python, "-r", "requirements.txt", cwd=repo)
    assert subprocess.run([str(python), "-c", "import spor"], cwd=elsewhere, capture_output=True).returncode != 0
    env = _airflow(python, tmp_path / "home-gitsync", repo / "dags", repo / "plugins", local.connections())
    _migrate(python, env, elsewhere, repo / "pools.json")
    listed = subprocess.run([str(python), "-m", "airflow", "plugins", "-o", "json"], env=env, cwd=elsewhere,
                            capture_output=True, text=True, timeout=300)
    assert '"name": "spor"' in listed.stdout, listed.stderr[-2000:]
    bag = subprocess.run([str(python), "-c", "from airflow.dag_processing.dagbag import DagBag; "
                          "b = DagBag(); print(sorted(b.dags), b.import_errors)"],
                         env=env, cwd=elsewhere, capture_output=True, text=True, timeout=300)
    assert "['spor_nightly', 'spor_resend'] {}" in bag.stdout, bag.stdout + bag.stderr[-2000:]

    # --- the wheel, not editable, from the copy; then everything from another directory
    _pip(python, "-c", "constraints.txt", ".", cwd=repo)
    shutil.rmtree(repo)  # nothing may point into the repository any more
    site = subprocess.run([str(python), "-c", "import spor; print(spor.__file__)"], cwd=elsewhere,
                          capture_output=True, text=True, check=True).stdout
    assert "site-packages" in site
    pth = [p for p in (tmp_path / "venv").rglob("*.pth") if "clone" in p.read_text()]
    assert not pth

    out = elsewhere / "preview"
    render = subprocess.run([str(python), "-m", "spor", "render", "--db", f"sqlite:///{local.ops_db}", "--out", str(out),
                             "--all", "--units", json.dumps(dict(manifest.units))],
                            cwd=elsewhere, env=_clean_env({}), capture_output=True, text=True, timeout=600)
    assert render.returncode == 0, (render.stdout + render.stderr)[-2000:]
    checked = subprocess.run([str(python), "-c", CHECK_PACKAGE, str(out)], cwd=elsewhere, env=_clean_env({}),
                             capture_output=True, text=True, timeout=600)
    assert checked.returncode == 0, checked.stderr[-3000:]
    facts = json.loads(checked.stdout.strip().splitlines()[-1])
    assert all(loc.startswith(facts["package"]) for loc in facts["locations"].values()), facts["locations"]
    assert facts["messages"] > 100 and facts["valid"] == facts["messages"]
    assert facts["loaded"] == facts["expected"] and sum(facts["expected"].values()) > 0

    dags = tmp_path / "only-nightly"
    dags.mkdir()
    shutil.copy(ROOT / "dags" / "spor_nightly.py", dags)
    empty_plugins = tmp_path / "no-plugins"
    empty_plugins.mkdir()
    env = _airflow(python, tmp_path / "home-wheel", dags, empty_plugins, local.connections() | clock)
    _migrate(python, env, elsewhere, ROOT / "pools.json")
    hooks = subprocess.run([str(python), "-m", "airflow", "providers", "hooks", "-o", "json"], env=env, cwd=elsewhere,
                           capture_output=True, text=True, timeout=300)
    assert any(h["connection_type"] == "spor" and h["package_name"] == "spor-airflow"
               for h in json.loads(hooks.stdout[hooks.stdout.index("["):])), hooks.stderr[-2000:]
    before = len(list(local.received.glob("*.xml")))
    run = subprocess.run([str(python), "-c", RUN_ONCE, str(dags)], env=env, cwd=elsewhere, capture_output=True,
                         text=True, timeout=900)
    line = next((x for x in run.stdout.splitlines() if x.startswith("SPOR_RUN")), "")
    assert line.endswith("success"), (run.stdout + run.stderr)[-4000:]
    assert len(list(local.received.glob("*.xml"))) - before > 100
