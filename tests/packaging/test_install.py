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
import textwrap
import time

import pytest

from tests.conftest import ROOT
from tests.packaging.support import airflow_env, clean_env, migrate, pip_install, repo_copy, venv

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


def test_git_sync_and_wheel_installs(tmp_path, night):
    local, manifest, clock = night
    repo = repo_copy(tmp_path / "clone")
    python = venv(tmp_path / "venv")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    # --- git-sync: requirements.txt only, the repository's dags/ and plugins/ as Airflow's folders
    pip_install(python, "-r", "requirements.txt", cwd=repo)
    assert subprocess.run([str(python), "-c", "import spor"], cwd=elsewhere, capture_output=True).returncode != 0
    env = airflow_env(python, tmp_path / "home-gitsync", repo / "dags", repo / "plugins", local.connections())
    migrate(python, env, elsewhere, repo / "pools.json")
    listed = subprocess.run([str(python), "-m", "airflow", "plugins", "-o", "json"], env=env, cwd=elsewhere,
                            capture_output=True, text=True, timeout=300)
    assert '"name": "spor"' in listed.stdout, listed.stderr[-2000:]
    bag = subprocess.run([str(python), "-c", "from airflow.dag_processing.dagbag import DagBag; "
                          "b = DagBag(); print(sorted(b.dags), b.import_errors)"],
                         env=env, cwd=elsewhere, capture_output=True, text=True, timeout=300)
    assert "['spor_nightly', 'spor_resend'] {}" in bag.stdout, bag.stdout + bag.stderr[-2000:]

    # --- the wheel, not editable, from the copy; then everything from another directory
    pip_install(python, "-c", "constraints.txt", ".", cwd=repo)
    shutil.rmtree(repo)  # nothing may point into the repository any more
    site = subprocess.run([str(python), "-c", "import spor; print(spor.__file__)"], cwd=elsewhere,
                          capture_output=True, text=True, check=True).stdout
    assert "site-packages" in site
    pth = [p for p in (tmp_path / "venv").rglob("*.pth") if "clone" in p.read_text()]
    assert not pth

    out = elsewhere / "preview"
    render = subprocess.run([str(python), "-m", "spor", "render", "--db", f"sqlite:///{local.ops_db}", "--out", str(out),
                             "--all", "--units", json.dumps(dict(manifest.units))],
                            cwd=elsewhere, env=clean_env({}), capture_output=True, text=True, timeout=600)
    assert render.returncode == 0, (render.stdout + render.stderr)[-2000:]
    checked = subprocess.run([str(python), "-c", CHECK_PACKAGE, str(out)], cwd=elsewhere, env=clean_env({}),
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
    env = airflow_env(python, tmp_path / "home-wheel", dags, empty_plugins, local.connections() | clock)
    migrate(python, env, elsewhere, ROOT / "pools.json")
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
