"""Soak benchmark: the nightly pipeline on N treatments against the stand-in (20 ms), four nights
in one invocation, each on a fresh environment with the same generated data:

1. fault-free;
2. 5 % transient faults, half HTTP 503, half connection reset;
3. 5 % transient faults including hangs (a third each: 503, reset, hang past the read timeout);
4. a SIGKILL of the process running ``dag.test`` (the whole run: every task runs inside it) at a
   random point during sending, the killed run marked failed as the scheduler would, then an
   immediate rerun.

    .venv/bin/python bench/bench_soak.py [--treatments 20000] [--latency-ms 20] [--threads 8] [--seed 7]
        [--only NIGHT ...] [--results DIR]

Reports per night: wall time against the fault-free night, registrations accepted (must equal the
sendable set), accepted twice (only those in flight at the kill may be), lost (sendable, never
accepted), the longest a failed attempt held its thread, the run states, and peak memory (max RSS) of the DAG process. Appends JSON to
bench/results/bench_soak.jsonl (`--results` names another directory). Docs: docs/performance.md ("Soak").
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from devenv import LocalEnv, make_ops, make_pki, migrate_airflow

ROOT = Path(__file__).resolve().parents[1]
RUN_DAG = """
import json, resource, time
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder={dag!r})
t0 = time.perf_counter()
from spor.notifications.deadline import for_dag_test
run = for_dag_test(bag.dags["spor_nightly"]).test(logical_date=None)
print("BENCH_RUN", json.dumps({{"run_id": run.run_id, "state": str(run.state), "wall_s": time.perf_counter() - t0,
      "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}), flush=True)
"""
VARIANTS = {
    "fault_free": [],
    "503_and_resets_5pct": ["--unavailable-share", "0.025", "--reset-share", "0.025"],
    "with_hangs_5pct": ["--unavailable-share", "0.0167", "--reset-share", "0.0167", "--hang-share", "0.0166",
                        "--hang-s", "120"],
    "sigkill_and_rerun": [],
}


def accepted(state_db: Path) -> tuple[dict[str, int], int, int]:
    """(accepted answers per behandlingsnummer, rows left in the outbox, attempts without an answer)."""
    conn = sqlite3.connect(state_db)
    per = dict(conn.execute("select behandlingsnummer, count(*) from spor_ledger "
                            "where outcome in ('created','updated') group by behandlingsnummer").fetchall())
    left = conn.execute("select count(*) from spor_outbox").fetchone()[0]
    open_ = conn.execute("select count(*) from spor_ledger where outcome is null").fetchone()[0]
    conn.close()
    return per, left, open_


def night(name: str, args: argparse.Namespace, base: Path) -> dict:
    env = LocalEnv(base=base / name)
    make_pki(env)
    manifest = make_ops(env, n=args.treatments)
    clock = {"SPOR_CLOCK_START": "2025-12-01T00:30:00+01:00", "SPOR_CLOCK_ANCHOR": str(time.time()),
             "SPOR_CLOCK_SPEED": "1"}
    from standin.server import start_subprocess

    standin = start_subprocess(["--pki", str(env.pki), "--received", str(env.received), "--port", "0",
                                "--latency-ms", str(args.latency_ms), "--seed", str(args.seed),
                                "--system-ids", ",".join(manifest.units.values()), *VARIANTS[name]],
                               env=os.environ | clock)
    runs, kill = [], None
    try:
        env.endpoint = standin.url
        config = {"threads_per_task": args.threads, "pool_slots": 1, "batches_per_run": args.batches}
        # read_timeout 10 s as measured in production; the task lowers it from the latency it sees.
        run_env = (os.environ | env.airflow_settings()
                   | env.connections(spor_extra={"pool_size": args.threads, "read_timeout": 10})
                   | clock | {"AIRFLOW_VAR_SPOR_CONFIG": json.dumps(config)})
        migrate_airflow(env)
        cmd = [sys.executable, "-c", RUN_DAG.format(dag=str(ROOT / "dags" / "spor_nightly.py"))]
        t0 = time.perf_counter()
        if name == "sigkill_and_rerun":
            target = random.Random(args.seed).randint(args.treatments // 20, args.treatments // 2)
            with open(base / f"{name}-killed.log", "w") as out:
                proc = subprocess.Popen(cmd, env=run_env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
                while len(standin_index(env)) < target and proc.poll() is None:
                    time.sleep(0.2)
                proc.send_signal(signal.SIGKILL)   # the dag.test process: every task of the run dies with it
                proc.wait()
            fail_running_runs(env)         # what the scheduler does to a run whose process died
            received = settled_index(env)   # a request on the wire at the kill may still land
            per, _, in_flight = accepted(env.state_db)
            answered = answered_numbers(env.state_db)
            kill = {"after_requests": len(received), "accepted_before": len(per), "in_flight": in_flight,
                    # reached SPOR, answer never recorded: exactly these may be received twice
                    "resend_expected": sorted({e["behandlingsnummer"] for e in received if e["behandlingsnummer"]} - answered)}
        log = base / f"{name}.log"
        with open(log, "w") as out:
            subprocess.run(cmd, env=run_env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, check=False)
        wall = time.perf_counter() - t0
        for line in log.read_text().splitlines():
            if line.startswith("BENCH_RUN"):
                runs.append(json.loads(line.split(" ", 1)[1]))
    finally:
        standin.stop()
    per, left, _ = accepted(env.state_db)
    longest = longest_failed_attempt(env.state_db)
    index = standin_index(env)
    faults: dict[str, int] = {}
    for entry in index:
        if str(entry.get("outcome", "")).startswith("injected:"):
            faults[entry["outcome"]] = faults.get(entry["outcome"], 0) + 1
    seen: dict[str, int] = {}
    for entry in index:
        if entry["behandlingsnummer"]:  # a request cut at the kill has none
            seen[entry["behandlingsnummer"]] = seen.get(entry["behandlingsnummer"], 0) + 1
    return {"night": name, "wall_s": round(wall, 1), "state": [r["state"] for r in runs],
            "received_twice": sorted(n for n, count in seen.items() if count == 2),
            "received_more_than_twice": sorted(n for n, count in seen.items() if count > 2),
            "accepted": len(per), "accepted_twice": sum(1 for n in per.values() if n > 1),
            "left_in_outbox": left, "requests": len(index), "faults": faults, "kill": kill,
            "longest_failed_attempt_s": longest,
            "max_rss_mb": max((round(r["max_rss_mb"]) for r in runs), default=None)}


def fail_running_runs(env: LocalEnv) -> None:
    """Mark the killed ``dag.test`` run failed in Airflow's metadata database, as the scheduler
    does to a run whose task processes died (dag.test has no scheduler). Batches it planned but
    never claimed are then dead at once (Airflow says the run finished) instead of after the
    unclaimed lease; a kill between two batches leaves only such batches behind. ``dag.test``
    deletes an earlier run with the same logical date (both are None) before it starts, which a
    scheduler never does: the failed run gets its start date as logical date, so it stays."""
    conn = sqlite3.connect(env.airflow_home / "airflow.db")
    with conn:
        conn.execute("update dag_run set state = 'failed', logical_date = coalesce(logical_date, start_date) "
                     "where dag_id = 'spor_nightly' and state = 'running'")
    conn.close()


def answered_numbers(state_db: Path) -> set[str]:
    """Treatments with an answer recorded in the ledger (whatever it was)."""
    conn = sqlite3.connect(state_db)
    rows = conn.execute("select distinct behandlingsnummer from spor_ledger where outcome is not null").fetchall()
    conn.close()
    return {row[0] for row in rows}


def settled_index(env: LocalEnv, quiet_s: float = 1.0, limit_s: float = 30.0) -> list[dict]:
    """The stand-in's index once it has not grown for ``quiet_s``."""
    entries, since, deadline = standin_index(env), time.monotonic(), time.monotonic() + limit_s
    while time.monotonic() - since < quiet_s and time.monotonic() < deadline:
        time.sleep(0.1)
        now = standin_index(env)
        if len(now) != len(entries):
            entries, since = now, time.monotonic()
    return entries


def longest_failed_attempt(state_db: Path) -> float | None:
    """How long the longest transient failure held its thread (a hang: at most one read timeout)."""
    conn = sqlite3.connect(state_db)
    value = conn.execute("select max(elapsed_s) from spor_ledger where outcome = 'transient_error'").fetchone()[0]
    conn.close()
    return None if value is None else round(value, 2)


def standin_index(env: LocalEnv) -> list[dict]:
    from standin.recorder import read_index

    return read_index(env.received)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--treatments", type=int, default=20000)
    p.add_argument("--latency-ms", type=float, default=20.0)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--batches", type=int, default=8)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--only", nargs="*", default=list(VARIANTS))
    p.add_argument("--dir", type=Path, default=None)
    p.add_argument("--results", type=Path, default=ROOT / "bench" / "results", help="directory of bench_soak.jsonl")
    args = p.parse_args(argv)
    base = args.dir or Path(tempfile.mkdtemp(prefix="spor-bench-soak-"))
    results = [night(name, args, base) for name in VARIANTS if name in args.only]
    free = next((r for r in results if r["night"] == "fault_free"), None)
    sendable = free["accepted"] + free["left_in_outbox"] if free else None
    for r in results:
        r["vs_fault_free"] = round(r["wall_s"] / free["wall_s"], 2) if free else None
        r["lost"] = (sendable - r["accepted"]) if sendable is not None else None
    summary = {"treatments": args.treatments, "latency_ms": args.latency_ms, "threads": args.threads,
               "seed": args.seed, "sendable": sendable, "nights": results}
    print(json.dumps(summary, indent=1))
    args.results.mkdir(parents=True, exist_ok=True)
    with open(args.results / "bench_soak.jsonl", "a") as f:
        f.write(json.dumps(summary) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
