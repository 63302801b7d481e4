"""Both ends of the supported Airflow range (pyproject.toml: 3.2.2 and later 3.x) hold.

For Airflow 3.2.2 with the provider releases of its day (``constraints/airflow-3.2.2.txt``, the
oldest tree we support) and 3.3.2 (``constraints/airflow-3.3.2.txt``, the newest), each in a
fresh venv, the wheel (built once per session) with ``[postgres]``:

- installs from the pinned tree, and ``pip check`` finds nothing broken;
- both DAG files parse with no import error;
- Airflow registers what the package adds: the plugin's deadline reference of the 05:00 alert,
  which the scheduler's own rebuilt copy of the alert evaluates to the first 05:00 Stockholm after
  the run, and the ``spor`` connection type with its form fields (ProvidersManager);
- ``spor_nightly`` runs once with ``dag.test()`` against the stand-in, which receives exactly the
  manifest's buildable, unblocked treatments;
- a run-stopping error in a send task (a systemic stop: SPOR knows none of the SystemIds) fails
  the task on its first try, with no retry (spor.compat: a retry policy on 3.3,
  AirflowFailException on 3.2), and the team's alert says the run stopped; the good night
  alerts nobody.

The venvs install without the index from a wheelhouse under the user cache
(tests.packaging.support.wheelhouse), filled on the first run (147 MB). On a loaded 2-core
machine the test takes about 4.5 minutes, cold or warm alike where the index answers at ~100 MB/s;
warm, only building the wheel (hatchling) needs the index.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import textwrap
import time
from datetime import datetime
from datetime import time as clock_time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.packaging.support import airflow_env, migrate, pip_install, venv, wheelhouse

pytestmark = pytest.mark.xdist_group("airflow-stack")

#: Each supported end of the range: the Airflow release and its pinned tree.
RELEASES = {
    "3.2.2": ROOT / "constraints" / "airflow-3.2.2.txt",
    "3.3.2": ROOT / "constraints" / "airflow-3.3.2.txt",
}
NIGHT = "2025-12-01T01:00:00+01:00"
UNKNOWN_SYSTEM_ID = "SE2321000016-NONE"

#: Runs in the release's venv: parses the DAG folder, optionally reads what Airflow registered,
#: runs spor_nightly once and prints what the test checks, as one JSON line.
NIGHT_RUN = textwrap.dedent("""
    import json, sys
    from importlib.metadata import version

    from airflow.dag_processing.dagbag import DagBag

    folder, registrations = sys.argv[1], sys.argv[2] == "registrations"
    bag = DagBag(dag_folder=folder)
    facts = {"airflow": version("apache-airflow"), "dags": sorted(bag.dags),
             "import_errors": {k: str(v)[-1500:] for k, v in bag.import_errors.items()}}
    if facts["import_errors"] or "spor_nightly" not in bag.dags:
        print("SPOR_FACTS " + json.dumps(facts))
        sys.exit(0)
    dag = bag.dags["spor_nightly"]
    if registrations:
        from airflow import plugins_manager
        from airflow.providers_manager import ProvidersManager
        from airflow.serialization.encoders import ensure_serialized_deadline_alert
        from spor.get_provider_info import get_provider_info

        providers = ProvidersManager()
        hook = providers.hooks.get("spor")
        facts["deadline_references"] = sorted(plugins_manager.get_deadline_references_plugins())
        facts["connection_types"] = get_provider_info()["connection-types"]
        facts["hook"] = hook and [hook.hook_class_name, hook.package_name]
        facts["form_fields"] = sorted(k.removeprefix("extra__spor__") for k in providers.connection_form_widgets
                                      if k.startswith("extra__spor__"))
        facts["field_behaviour"] = providers.field_behaviours.get("spor")
        alerts = [ensure_serialized_deadline_alert(a) for a in dag.deadline]  # as the scheduler rebuilds them

    from spor.notifications.deadline import for_dag_test

    run = for_dag_test(dag).test(logical_date=None)  # no scheduler: no deadline
    facts["run"] = {"run_id": run.run_id, "state": getattr(run.state, "value", run.state),
                    "run_after": run.run_after.isoformat()}

    from sqlalchemy import func, select
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.taskinstancehistory import TaskInstanceHistory
    from airflow.utils.session import create_session

    def of_send(model):
        return (model.dag_id == dag.dag_id, model.run_id == run.run_id, model.task_id == "send_batch")

    with create_session() as session:
        facts["send_tries"] = [[i, n, getattr(s, "value", s)] for i, n, s in session.execute(
            select(TaskInstance.map_index, TaskInstance.try_number, TaskInstance.state).where(*of_send(TaskInstance)))]
        facts["send_earlier_tries"] = session.scalar(
            select(func.count()).select_from(TaskInstanceHistory).where(*of_send(TaskInstanceHistory)))
        if registrations:
            facts["deadlines"] = [
                [type(getattr(a.reference, "inner_ref", a.reference)).__qualname__,
                 a.reference.evaluate_with(session=session, interval=a.interval, dag_id=dag.dag_id,
                                           run_id=run.run_id).isoformat()]
                for a in alerts]
    print("SPOR_FACTS " + json.dumps(facts, default=str))
""")


class Night:
    """A synthetic OPS and a running stand-in (from the dev venv: neither ships)."""

    def __init__(self, base: Path, pki: Path | None, n: int, seed: int, system_ids: str | None, clock: dict[str, str]):
        from devenv import LocalEnv, make_ops, make_pki
        from standin.server import start_subprocess

        self.env = LocalEnv(base)
        if pki is None:
            make_pki(self.env)
        else:
            shutil.copytree(pki, self.env.pki)
        self.manifest = make_ops(self.env, n=n, seed=seed)
        ids = system_ids or ",".join(self.manifest.units.values())
        self.standin = start_subprocess(["--pki", str(self.env.pki), "--received", str(self.env.received), "--port", "0",
                                         "--system-ids", ids], env=os.environ | clock)
        self.env.endpoint = self.standin.url
        self.clock = clock

    def settings(self, state_db: Path) -> dict[str, str]:
        """The connections and variables of a site, with a state database of its own."""
        return self.env.connections() | self.clock | {
            "AIRFLOW_CONN_SPOR_STATE": json.dumps({"conn_type": "sqlite", "host": str(state_db)})}

    def received(self) -> list[dict]:
        from standin.recorder import read_index

        return read_index(self.env.received)


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    """A night SPOR accepts, and one it answers ERROR "SystemId hittas inte" to every request."""
    clock = {"SPOR_CLOCK_START": NIGHT, "SPOR_CLOCK_ANCHOR": str(time.time()), "SPOR_CLOCK_SPEED": "1"}
    good = Night(tmp_path_factory.mktemp("good-night"), None, n=150, seed=1, system_ids=None, clock=clock)
    try:
        stop = Night(tmp_path_factory.mktemp("stop-night"), good.env.pki, n=40, seed=5,
                     system_ids=UNKNOWN_SYSTEM_ID, clock=clock)
    except BaseException:
        good.standin.stop()
        raise
    try:
        yield good, stop
    finally:
        good.standin.stop()
        stop.standin.stop()


def _night_run(python: Path, env: dict[str, str], dags: Path, cwd: Path, *, registrations: bool) -> dict:
    done = subprocess.run([str(python), "-c", NIGHT_RUN, str(dags), "registrations" if registrations else "run"],
                          env=env, cwd=cwd, capture_output=True, text=True, timeout=1200)
    line = next((x for x in done.stdout.splitlines() if x.startswith("SPOR_FACTS ")), None)
    output = done.stdout + done.stderr
    assert done.returncode == 0 and line, output[-4000:]
    # No alert recipient is configured: the DAG callbacks log each alert's subject instead.
    alerts = sorted(set(re.findall(r"SPOR alert: (.+?) \(spor_nightly ", output)))
    return json.loads(line.removeprefix("SPOR_FACTS ")) | {"alerts": alerts, "log": output[-4000:]}


def _check_release(release: str, constraints: Path, wheel: Path, nights, base: Path) -> None:
    from spor.get_provider_info import CONN_FIELDS, UI_FIELD_BEHAVIOUR, get_provider_info
    from spor.notifications.deadline import first_local_time_after
    from spor.state import database, runlog

    good, stop = nights
    base.mkdir()
    python = venv(base / "venv", upgrade_pip=False)  # the venv's own pip: no index needed
    pip_install(python, "--no-index", "--find-links", str(wheelhouse(constraints)), "-c", str(constraints),
                f"{wheel}[postgres]", cwd=base)
    broken = subprocess.run([str(python), "-m", "pip", "check"], capture_output=True, text=True, timeout=300)
    assert broken.returncode == 0, f"{release}: {broken.stdout}"
    dags = base / "dags"
    shutil.copytree(ROOT / "dags", dags)  # both DAG files; the plugin and the provider come from the wheel
    no_plugins = base / "plugins"
    no_plugins.mkdir()
    airflow = airflow_env(python, base / "home", dags, no_plugins, {})
    migrate(python, airflow, base, ROOT / "pools.json")

    # --- a night SPOR accepts: DAGs, registrations, one run, its deadline
    before = len(good.received())
    facts = _night_run(python, airflow | good.settings(base / "state-good.sqlite"), dags, base, registrations=True)
    assert facts["airflow"] == release
    assert facts["import_errors"] == {} and facts["dags"] == ["spor_nightly", "spor_resend"], facts
    assert facts["deadline_references"] == ["spor.notifications.deadline.NextLocalDeadline"], facts
    assert facts["connection_types"] == json.loads(json.dumps(get_provider_info()["connection-types"]))
    assert facts["hook"] == ["spor.hooks.spor.SporHook", "spor-airflow"], facts["hook"]
    assert facts["form_fields"] == sorted(CONN_FIELDS), facts["form_fields"]
    assert facts["field_behaviour"]["hidden_fields"] == UI_FIELD_BEHAVIOUR["hidden-fields"], facts["field_behaviour"]
    assert facts["run"]["state"] == "success", f"{release}: {facts['run']}\n{facts['log']}"
    sent = [r["behandlingsnummer"] for r in good.received()[before:]]
    assert len(sent) == len(set(sent)), f"{release}: a registration was sent twice"
    assert set(sent) == good.manifest.expected_rendered(), f"{release}: not the manifest's buildable, unblocked treatments"
    assert facts["alerts"] == [], facts["alerts"]
    five = first_local_time_after(datetime.fromisoformat(facts["run"]["run_after"]), clock_time(5))
    assert facts["deadlines"] == [["NextLocalDeadline", five.isoformat()]], facts["deadlines"]

    # --- a run-stopping error in the send tasks: failed on the first try, never retried
    state = base / "state-stop.sqlite"
    facts = _night_run(python, airflow | stop.settings(state), dags, base, registrations=False)
    assert facts["run"]["state"] == "failed", f"{release}: {facts['run']}\n{facts['log']}"
    assert facts["send_tries"] and all(t[1:] == [1, "failed"] for t in facts["send_tries"]), facts["send_tries"]
    assert facts["send_earlier_tries"] == 0, f"{release}: a run-stopping error was retried"
    assert facts["alerts"] == ["the night stopped"], facts["alerts"]  # spor_nightly: "night"
    db = database.connect(f"sqlite:///{state}", upgrade=False)
    try:
        stops = runlog.events(db, facts["run"]["run_id"], runlog.STOP)
    finally:
        db.dispose()
    assert stops and {e.task for e in stops} == {"send_batch"}, stops
    assert all(e.message.startswith("SystemicError: Systemic stop") for e in stops), stops


def test_the_wheel_works_on_the_oldest_and_the_newest_supported_airflow(wheel, nights, tmp_path):
    for release, constraints in RELEASES.items():
        _check_release(release, constraints, wheel, nights, tmp_path / release)
