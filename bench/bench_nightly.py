"""Benchmark: the whole nightly pipeline on N changed treatments against the stand-in at 50 ms.

    .venv/bin/python bench/bench_nightly.py [--treatments 20000] [--latency-ms 50] [--threads 8] [--slots 1]
        [--executor [local|celery]] [--workers 2] [--results DIR]

Runs `spor_nightly` once with `dag.test()` (tasks run one after another in one process, so the
concurrency of the send phase is the threads of one send task; `--slots` > 1 only matters under a
real executor) and reports: wall time of each phase (task), send throughput against the ideal
concurrency / latency, the number of Airflow task instances of the run (it must not grow with the
number of registrations), and the peak memory (max RSS) of the process that ran the DAG.
`--executor` (or `--executor local`): `dag.test(use_executor=True)` on LocalExecutor with an API
server and a triggerer; `--executor celery`: the real scheduler on CeleryExecutor (Redis and
PostgreSQL, see devenv/stack.py). Results are printed and appended as JSON to
bench/results/bench_nightly.jsonl (`--results` names another directory).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from devenv import LocalEnv, make_ops, make_pki, migrate_airflow
from devenv.stack import Stack, free_port

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"

RUN_DAG = """
import json, resource, sys, time
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder={dag!r})
t0 = time.perf_counter()
from spor.notifications.deadline import for_dag_test
run = for_dag_test(bag.dags["spor_nightly"]).test(logical_date=None, use_executor={use_executor!r})
print("BENCH_RUN", json.dumps({{"run_id": run.run_id, "state": str(run.state), "wall_s": time.perf_counter() - t0,
      "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--treatments", type=int, default=20000)
    p.add_argument("--latency-ms", type=float, default=50.0)
    p.add_argument("--threads", type=int, default=8, help="threads per send task")
    p.add_argument("--slots", type=int, default=1, help="pool slots (concurrent send tasks under an executor)")
    p.add_argument("--batches", type=int, default=8, help="batches per run (spor_config.batches_per_run)")
    p.add_argument("--dir", type=Path, default=None)
    p.add_argument("--executor", nargs="?", const="local", choices=["local", "celery"],
                   help="local: the tasks through LocalExecutor (send tasks in parallel, up to --slots); "
                        "celery: the real scheduler, CeleryExecutor with Redis, PostgreSQL (--workers)")
    p.add_argument("--workers", type=int, default=2, help="Celery workers (with --executor celery)")
    p.add_argument("--prefix", default="spor_bench_celery",
                   help="PostgreSQL database names PREFIX_airflow and PREFIX_state (with --executor celery)")
    p.add_argument("--redis-db", type=int, default=5, help="Redis database number of the broker (with --executor celery)")
    p.add_argument("--drop-databases", action="store_true", help="drop the two PostgreSQL databases afterwards")
    p.add_argument("--results", type=Path, default=RESULTS, help="directory of bench_nightly.jsonl")
    args = p.parse_args(argv)
    if args.executor == "celery":
        return _celery(args)

    base = args.dir or Path(tempfile.mkdtemp(prefix="spor-bench-nightly-"))
    env = LocalEnv(base=base)
    make_pki(env)
    t = time.perf_counter()
    manifest = make_ops(env, n=args.treatments)
    generate_s = time.perf_counter() - t
    clock = {"SPOR_CLOCK_START": "2025-12-01T00:30:00+01:00", "SPOR_CLOCK_ANCHOR": str(time.time()),
             "SPOR_CLOCK_SPEED": "1"}
    from standin.server import start_subprocess

    standin = start_subprocess(
        ["--pki", str(env.pki), "--received", str(env.received), "--port", "0", "--latency-ms", str(args.latency_ms),
         "--system-ids", ",".join(manifest.units.values())],
        env=os.environ | clock)
    try:
        env.endpoint = standin.url
        config = {"threads_per_task": args.threads, "pool_slots": args.slots, "batches_per_run": args.batches}
        run_env = (os.environ | env.airflow_settings() | env.connections(spor_extra={"pool_size": args.threads})
                   | clock | {"AIRFLOW_VAR_SPOR_CONFIG": json.dumps(config)})
        if args.executor:
            run_env |= {"AIRFLOW__CORE__EXECUTOR": "LocalExecutor", "AIRFLOW__CORE__PARALLELISM": str(args.slots + 1)}
        migrate_airflow(env)
        if args.executor:  # the shipped pool file has the default slots; size it as asked
            subprocess.run([sys.executable, "-m", "airflow", "pools", "set", "spor", str(args.slots), "bench"],
                           env=run_env, check=True, capture_output=True)
        servers: list[subprocess.Popen] = []   # API server and triggerer under the executor
        try:
            if args.executor:  # executor workers reach Airflow through its execution API server
                port = free_port()
                run_env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"http://127.0.0.1:{port}/execution/"
                servers.append(subprocess.Popen([sys.executable, "-m", "airflow", "api-server", "--port", str(port)],
                                                env=run_env, stdout=open(base / "api-server.log", "w"),
                                                stderr=subprocess.STDOUT, cwd=ROOT))
                Stack.wait_http(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=120)
                # the deferrable wait_for_window needs a triggerer under a real executor
                servers.append(subprocess.Popen([sys.executable, "-m", "airflow", "triggerer"], env=run_env,
                                                stdout=open(base / "triggerer.log", "w"), stderr=subprocess.STDOUT,
                                                cwd=ROOT))
            log = base / "run.log"
            with open(log, "w") as out:
                subprocess.run([sys.executable, "-c", RUN_DAG.format(dag=str(ROOT / "dags" / "spor_nightly.py"),
                                                                      use_executor=args.executor == "local")],
                               env=run_env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, check=False)
        finally:
            for proc in reversed(servers):
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:  # a loaded machine: the run's numbers are in; don't lose them
                    proc.kill()
                    proc.wait()
    finally:
        standin.stop()
    line = next((x for x in log.read_text().splitlines() if x.startswith("BENCH_RUN")), None)
    if line is None:
        print(f"run did not finish; see {log}")
        return 1
    run = json.loads(line.split(" ", 1)[1])
    phases, instances = _phases(env.airflow_home / "airflow.db", run["run_id"])
    sent = sum(1 for _ in env.received.glob("*.xml"))
    send_s = phases.get("send_batch", {}).get("wall_s", 0.0)
    # dag.test runs mapped tasks one at a time; under the executor up to --slots run in parallel
    concurrency = args.threads * (args.slots if args.executor else 1)
    ideal = concurrency / (args.latency_ms / 1000)
    result = {
        "treatments": args.treatments, "sent": sent, "latency_ms": args.latency_ms,
        "concurrency": concurrency, "executor": "LocalExecutor" if args.executor else "dag.test",
        "batches_per_run": args.batches, "generate_s": round(generate_s, 1),
        "run_wall_s": round(run["wall_s"], 1), "state": run["state"],
        "phases": {k: v["wall_s"] for k, v in phases.items()},
        "send_throughput_per_s": round(sent / send_s, 1) if send_s else None,
        "ideal_per_s": ideal, "share_of_ideal": round(sent / send_s / ideal, 3) if send_s else None,
        "task_instances": instances, "max_rss_mb": round(run["max_rss_mb"]),
    }
    print(json.dumps(result, indent=1))
    _append(args.results, result)
    return 0 if run["state"].endswith("success") else 1


def _celery(args) -> int:
    """The night through the real scheduler on CeleryExecutor; send throughput from the ledger's times."""
    import sqlalchemy as sa

    from devenv.distributed import run_night_on_stack
    from devenv.stack import database_url, drop_postgres_database, missing_services

    missing = missing_services()
    if missing:
        print("needs:", *missing, sep="\n- ")
        return 2
    base = args.dir or Path(tempfile.mkdtemp(prefix="spor-bench-celery-"))
    env = LocalEnv(base=base)
    make_pki(env)
    manifest = make_ops(env, n=args.treatments)
    config = {"threads_per_task": args.threads, "pool_slots": args.slots, "batches_per_run": args.batches}
    try:
        result = run_night_on_stack(env, manifest, night="2025-12-01T00:30:00+01:00", executor="celery",
                                    workers=args.workers, redis_db=args.redis_db, latency_ms=args.latency_ms,
                                    prefix=args.prefix, config=config, pool_slots=args.slots,
                                    spor_extra={"pool_size": args.threads})
        engine = sa.create_engine(database_url(f"{args.prefix}_state"))
        with engine.connect() as conn:
            first, last, sent = conn.execute(sa.text(
                "SELECT min(sent_at), max(answered_at), count(*) FROM spor.spor_ledger WHERE run_id = :r"),
                {"r": result.run_id}).one()
        engine.dispose()
    finally:
        if args.drop_databases:  # kept by default: the ledger is there to look into
            for name in (f"{args.prefix}_airflow", f"{args.prefix}_state"):
                drop_postgres_database(name)
    send_s = (last - first).total_seconds() if first and last else 0.0
    concurrency = args.threads * args.slots
    ideal = concurrency / (args.latency_ms / 1000)
    out = {"treatments": args.treatments, "sent": result.received, "latency_ms": args.latency_ms,
           "executor": "CeleryExecutor", "workers": args.workers, "concurrency": concurrency,
           "run_wall_s": round(result.wall_s, 1), "state": result.state, "send_s": round(send_s, 1),
           "send_throughput_per_s": round(sent / send_s, 1) if send_s else None, "ideal_per_s": ideal,
           "share_of_ideal": round(sent / send_s / ideal, 3) if send_s else None,
           "batches_by_worker": {w: len(b) for w, b in result.batches_by_worker.items()}}
    print(json.dumps(out, indent=1))
    _append(args.results, out)
    return 0 if result.state == "success" else 1


def _append(results: Path, result: dict) -> None:
    results.mkdir(parents=True, exist_ok=True)
    with open(results / "bench_nightly.jsonl", "a") as f:
        f.write(json.dumps(result) + "\n")


def _phases(airflow_db: Path, run_id: str) -> tuple[dict, int]:
    conn = sqlite3.connect(airflow_db)
    rows = conn.execute(
        "select task_id, map_index, start_date, end_date from task_instance where run_id = ?", (run_id,)).fetchall()
    conn.close()
    from datetime import datetime

    phases: dict[str, dict] = {}
    for task_id, _map_index, start, end in rows:
        if not start or not end:
            continue
        s, e = datetime.fromisoformat(str(start)), datetime.fromisoformat(str(end))
        ph = phases.setdefault(task_id, {"start": s, "end": e})
        ph["start"], ph["end"] = min(ph["start"], s), max(ph["end"], e)
    return ({k: {"wall_s": round((v["end"] - v["start"]).total_seconds(), 1)} for k, v in phases.items()}, len(rows))


if __name__ == "__main__":
    raise SystemExit(main())
