"""`make demo`: one night end to end, on this machine, at a fixed night-time clock.

Makes the test PKI, starts the stand-in SPOR service (mutual TLS), fills a synthetic OPS
database, runs `spor_nightly` once with Airflow's `dag.test()`, prints the run summary and stops
what it started. Everything lives under `.demo/`; the stand-in's received requests are in
`.demo/received/`. The clock is simulated (SPOR_CLOCK_START), so the demo behaves the same at
any time of day.

The run's OpenLineage events go to `.demo/lineage/` (docs/lineage.md).

Then it leaves the folder ready to work in: both DAGs in Airflow's metadata database (paused, as
Airflow creates them), a second day of changes waiting in the OPS database (treatments changed
after the first night, so the next `spor_nightly` has something to send), and `.demo/env.sh`
with the environment the README's commands need in a new shell (`make ui` uses it too).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from devenv import LocalEnv, make_ops, make_pki, migrate_airflow
from devenv.workplace import API_PORT, STANDIN_PORT, demo_environment, write_env_files

ROOT = Path(__file__).resolve().parents[1]

NIGHT = "2025-12-01T01:00:00+01:00"  # the night after the synthetic month, winter time

RUN_DAG = """
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder={dag!r})
if bag.import_errors:
    raise SystemExit(f"DAG import errors: {{bag.import_errors}}")
from spor.notifications.deadline import for_dag_test
run = for_dag_test(bag.dags["spor_nightly"]).test(logical_date=None)
print("SPOR_DEMO_RUN", run.run_id, run.state)
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=ROOT / ".demo")
    parser.add_argument("--treatments", type=int, default=3000)
    parser.add_argument("--latency-ms", type=float, default=20.0, help="the stand-in's answer latency")
    parser.add_argument("--night", default=NIGHT, help="simulated start of the run (ISO 8601 with offset)")
    parser.add_argument("--second-night", type=int, default=300,
                        help="treatments changed after the first night, waiting for the next one")
    args = parser.parse_args(argv)

    base = args.dir.resolve()
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True)
    env = LocalEnv(base=base)

    step("test PKI (CA, server and client certificates)", lambda: make_pki(env))
    manifest = step(f"synthetic OPS database with {args.treatments} treatments",
                    lambda: make_ops(env, n=args.treatments))
    clock = {"SPOR_CLOCK_START": args.night, "SPOR_CLOCK_ANCHOR": str(time.time()), "SPOR_CLOCK_SPEED": "1"}

    from standin.server import start_subprocess

    standin_env = os.environ | clock
    standin = step("stand-in SPOR service (mutual TLS)", lambda: start_subprocess(
        ["--pki", str(env.pki), "--received", str(env.received), "--port", "0",
         "--latency-ms", str(args.latency_ms), "--system-ids", ",".join(manifest.units.values())],
        env=standin_env))
    try:
        env.endpoint = standin.url
        airflow_env = os.environ | env.airflow_settings() | env.lineage_settings() | env.connections() | clock
        step("Airflow metadata database and the 'spor' pool", lambda: migrate_airflow(env))
        print(f"== running spor_nightly at {args.night} (simulated clock) …", flush=True)
        log_path = base / "spor_nightly.log"
        with open(log_path, "w") as log_file:
            proc = subprocess.run(
                [sys.executable, "-c", RUN_DAG.format(plugins=str(ROOT / "plugins"), dag=str(ROOT / "dags" / "spor_nightly.py"))],
                env=airflow_env, stdout=log_file, stderr=subprocess.STDOUT, cwd=ROOT)
        run_line = next((line for line in log_path.read_text().splitlines() if line.startswith("SPOR_DEMO_RUN")), "")
    finally:
        standin.stop()
        print("== stand-in stopped", flush=True)

    if not run_line:
        print(f"spor_nightly did not finish (exit {proc.returncode}); see {log_path}")
        return 1
    _, run_id, state = run_line.split()
    print_summary(env, run_id)
    step("both DAGs in Airflow's metadata database (paused)", lambda: serialize_dags(airflow_env))
    changed = step(f"a second day of changes in the OPS database ({args.second_night} treatments)",
                   lambda: second_night(env, manifest, args.second_night))
    env_sh = write_env_files(env, demo_environment(env, run_id=run_id, standin_port=STANDIN_PORT, api_port=API_PORT))
    received = len(list(env.received.glob("*.xml")))
    print(f"\n== spor_nightly {run_id}: {state}")
    print(f"   stand-in received {received} requests: {env.received}")
    print(f"   OPS database {env.ops_db}, state database {env.state_db}, Airflow home {env.airflow_home}")
    print(f"   full run log: {log_path}")
    print(f"   OpenLineage events of the run: {len(list(env.lineage.glob('*.json')))} files in {env.lineage}")
    print(f"   {len(changed)} treatments changed since, waiting for the next spor_nightly ({base / 'second_night.json'})")
    print(f"\n== work with it in a new shell: source {env_sh}   (then e.g. spor report --run-id \"$SPOR_DEMO_RUN_ID\""
          f" --kind summary)\n   open it in the Airflow UI: make ui")
    return 0 if state == "success" else 1


def serialize_dags(airflow_env: dict[str, str]) -> None:
    """`airflow dags trigger spor_resend` needs the DAG in the metadata database; dag.test() only
    wrote spor_nightly."""
    subprocess.run([sys.executable, "-m", "airflow", "dags", "reserialize"], env=airflow_env, check=True,
                   capture_output=True, cwd=ROOT)


def second_night(env: LocalEnv, manifest, n: int) -> list[str]:
    from spor.synthetic.later import change_later

    changed = change_later(f"sqlite:///{env.ops_db}", manifest, n=n, manifest_path=env.manifest)
    (env.base / "second_night.json").write_text(json.dumps({"changed": changed}) + "\n")
    return changed


def step(title: str, fn):
    started = time.perf_counter()
    print(f"== {title} …", end=" ", flush=True)
    result = fn()
    print(f"done ({time.perf_counter() - started:.1f} s)", flush=True)
    return result


def print_summary(env: LocalEnv, run_id: str) -> None:
    from spor.state import database as statedb
    from spor.state import run_summary, summary

    db = statedb.connect(f"sqlite:///{env.state_db}")
    saved = run_summary.load(db, "spor_nightly", run_id)
    print()
    print(summary.render_text(saved) if saved else json.dumps({"error": "no summary saved"}))


if __name__ == "__main__":
    raise SystemExit(main())
