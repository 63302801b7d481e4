"""Benchmark: the nightly beside a large backfill through the real scheduler, LocalExecutor.

    .venv/bin/python bench/bench_backfill_local.py [--backfill 200000] [--nightly 2000] [--days 10]
        [--latency-ms 20] [--slots 2] [--threads 4] [--batches 8] [--head-start-s 30] [--shared]
        [--max-active-runs N] [--dir DIR] [--results DIR]

What a site does when a unit joins: ``airflow backfill create --dag-id spor_nightly`` over the
``--days`` days of its history (``--backfill`` generated treatments, last changed over those days),
and the night after them, while the backfill is sending, the nightly of ``--nightly`` treatments
changed during the last day. Everything runs as in production: Airflow's scheduler, dag-processor,
triggerer and API server, LocalExecutor (each task a process of its own), PostgreSQL for Airflow's
metadata and for the state, the stand-in over mutual TLS at ``--latency-ms``. The nightly
watermark is set as a previous night would have left it, so the nightly reads the last day only.

Scenarios, each on a fresh stack with fresh databases, in one run of this script:
* ``alone``: the nightly with nothing else sending (its floor on this machine, this run);
* ``own_pool``: the backfill in ``[spor] backfill_pool`` (pool ``spor_backfill``, ``--slots``
  slots), started ``--head-start-s`` after its first answer, then the nightly (pool ``spor``);
* ``shared_pool`` (with ``--shared``): the same with one pool for both, as before the setting.
For each: the nightly's time from its trigger to the end of its run and the ratio to ``alone``,
whether every registration it staged was accepted, and whether it ended before 05:00 (the night's
clock starts at 00:30); for the backfill, its registrations, its time from its first request to
its last answer and its throughput against the network floor (registrations x latency /
(slots x threads)). Results are printed (JSON on stdout, progress on stderr) and appended to
bench/results/bench_backfill_local.jsonl. Needs PostgreSQL (see devenv/stack.py).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from devenv import LocalEnv, make_ops, make_pki
from devenv.distributed import NightStack, night_stack

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
FIRST_DAY = date(2025, 11, 1)
WINDOW_S = 4.5 * 3600        # 00:30 to 05:00
BACKFILL_POOL = "spor_backfill"
#: `airflow backfill create`'s default --max-active-runs.
AIRFLOW_BACKFILL_ACTIVE_RUNS = 10


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _ledger(running: NightStack, where: str, **params: Any) -> tuple[int, int, float]:
    """Accepted registrations, all answered, and seconds from first request to last answer, of the
    ledger rows matching ``where``."""
    engine = sa.create_engine(running.state_url)
    try:
        with engine.connect() as conn:
            accepted, answered, first, last = conn.execute(sa.text(
                "SELECT count(*) FILTER (WHERE outcome IN ('created', 'updated')), count(*), min(sent_at), "
                f"max(answered_at) FROM spor.spor_ledger WHERE {where}"), params).one()
    finally:
        engine.dispose()
    return accepted, answered, (last - first).total_seconds() if first and last else 0.0


def _seed_watermark(running: NightStack, value: str) -> None:
    """Where the night before left the nightly watermark: the nightly reads the last day only."""
    from spor.state import database, watermark

    db = database.connect(running.state_url, schema="spor")
    try:
        watermark.advance(db, watermark.NIGHTLY, value)
    finally:
        db.dispose()


def _nightly(running: NightStack, name: str) -> dict[str, Any]:
    """Trigger the nightly and wait for it; its numbers."""
    run_id = f"manual__{name}_{int(time.time())}"
    started = time.monotonic()
    running.stack.airflow("dags", "trigger", "spor_nightly", "--run-id", run_id)
    state = running.stack.wait_for_run("spor_nightly", run_id, timeout=4 * 3600)
    finish_s = time.monotonic() - started
    accepted, answered, send_s = _ledger(running, "run_id = :r", r=run_id)
    return {"run_id": run_id, "state": state, "finish_s": round(finish_s, 1), "accepted": accepted,
            "answered": answered, "send_s": round(send_s, 1), "before_0500": state == "success" and finish_s < WINDOW_S,
            "tasks_s": _task_times(running, run_id)}


def _task_times(running: NightStack, run_id: str) -> dict[str, float]:
    """Seconds from each task's first start to its last end in the run (mapped send tasks together),
    and how long its first instance queued for a slot (``queued_s``)."""
    row = running.stack.metadata(
        "SELECT json_object_agg(task_id, json_build_array(s, q)) FROM ("
        " SELECT task_id, extract(epoch FROM max(end_date) - min(start_date)) AS s,"
        " extract(epoch FROM min(start_date) - min(queued_dttm)) AS q"
        " FROM task_instance WHERE dag_id = 'spor_nightly' AND run_id = :r GROUP BY task_id) t", r=run_id)
    return {task: round(float(s or 0), 1) for task, (s, _q) in (row[0] or {}).items()} | {
        f"{task}.queued_s": round(float(q or 0), 1) for task, (_s, q) in (row[0] or {}).items() if q}


def _backfill_runs(running: NightStack) -> list[tuple[str, str]]:
    row = running.stack.metadata("SELECT string_agg(run_id || '=' || state, ',') FROM dag_run "
                                 "WHERE dag_id = 'spor_nightly' AND run_type = 'backfill'")
    return [tuple(x.split("=", 1)) for x in (row[0] or "").split(",") if x]


def _planned_days(running: NightStack) -> int:
    row = running.stack.metadata("SELECT count(*) FROM task_instance WHERE dag_id = 'spor_nightly' AND "
                                 "task_id = 'plan_batches' AND state = 'success' AND run_id LIKE 'backfill%'")
    return int(row[0]) if row else 0


def _wait_backfill_sending(running: NightStack, head_start_s: float, active_days: int) -> None:
    """Until the backfill's active days have planned their batches and it has answers: the nightly
    then starts beside a backfill that is sending, not one still planning."""
    deadline = time.monotonic() + 3600
    while time.monotonic() < deadline:
        if _planned_days(running) >= active_days and _ledger(running, "run_id LIKE 'backfill%'")[1] > 0:
            log(f"backfill answered its first registrations; the nightly starts in {head_start_s:.0f} s")
            time.sleep(head_start_s)
            return
        running.stack.check_alive()
        time.sleep(2)
    raise TimeoutError("the backfill sent nothing in an hour")


def _wait_backfill_done(running: NightStack, days: int) -> list[tuple[str, str]]:
    deadline = time.monotonic() + 6 * 3600
    while time.monotonic() < deadline:
        runs = _backfill_runs(running)
        if len(runs) == days and all(state in ("success", "failed") for _, state in runs):
            return runs
        running.stack.check_alive()
        time.sleep(10)
    raise TimeoutError("the backfill did not finish in 6 hours")


def _scenario(name: str, env: LocalEnv, manifest: Any, args: argparse.Namespace, *, night: str, watermark: str,
              backfill: str | None) -> dict[str, Any]:
    """One scenario on a fresh stack. ``backfill``: None (the nightly alone), or the pool of the
    backfill's send tasks (``spor`` shares the nightly's)."""
    config = {"threads_per_task": args.threads, "pool_slots": args.slots, "batches_per_run": args.batches}
    airflow_config = {"AIRFLOW__CORE__PARALLELISM": str(2 * args.slots + 6)}
    pools = {}
    if backfill == BACKFILL_POOL:
        airflow_config["AIRFLOW__SPOR__BACKFILL_POOL"] = BACKFILL_POOL
        pools[BACKFILL_POOL] = args.slots
    log(f"== {name}: starting the stack")
    with night_stack(env, manifest, night=night, executor="local", latency_ms=args.latency_ms,
                     prefix=f"{args.prefix}_{name}", config=config, pool_slots=args.slots,
                     spor_extra={"pool_size": args.threads}, airflow_config=airflow_config, pools=pools,
                     log=log) as running:
        _seed_watermark(running, watermark)
        result: dict[str, Any] = {"scenario": name}
        if backfill is not None:
            last = FIRST_DAY + timedelta(days=args.days)  # --to-date: the run at 00:30 after the last day
            log(f"== {name}: airflow backfill create {FIRST_DAY} .. {last}, send tasks in pool {backfill}")
            pacing = ["--max-active-runs", str(args.max_active_runs)] if args.max_active_runs else []
            running.stack.airflow("backfill", "create", "--dag-id", "spor_nightly", "--from-date",
                                  FIRST_DAY.isoformat(), "--to-date", last.isoformat(), *pacing)
            _wait_backfill_sending(running, args.head_start_s, min(args.days, args.max_active_runs or AIRFLOW_BACKFILL_ACTIVE_RUNS))
        log(f"== {name}: triggering the nightly")
        result["nightly"] = _nightly(running, name)
        log(f"== {name}: nightly {result['nightly']}")
        if backfill is not None:
            runs = _wait_backfill_done(running, args.days)
            accepted, answered, send_s = _ledger(running, "run_id LIKE 'backfill%'")
            floor = accepted * (args.latency_ms / 1000) / (args.slots * args.threads)
            result["backfill"] = {
                "runs": len(runs), "failed_runs": sum(1 for _, s in runs if s != "success"), "accepted": accepted,
                "answered": answered, "send_s": round(send_s, 1),
                "throughput_per_s": round(accepted / send_s, 1) if send_s else None,
                "floor_s": round(floor, 1), "share_of_floor": round(floor / send_s, 3) if send_s else None}
            log(f"== {name}: backfill {result['backfill']}")
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backfill", type=int, default=200000, help="treatments of the backfill's days")
    p.add_argument("--nightly", type=int, default=2000, help="treatments changed the last day (the nightly's)")
    p.add_argument("--days", type=int, default=10, help="days of the backfill (one backfill run each)")
    p.add_argument("--latency-ms", type=float, default=20.0)
    p.add_argument("--slots", type=int, default=2, help="slots of each pool")
    p.add_argument("--threads", type=int, default=4, help="threads per send task")
    p.add_argument("--batches", type=int, default=8, help="batches per run")
    p.add_argument("--head-start-s", type=float, default=30.0, help="the backfill sends this long before the nightly")
    p.add_argument("--shared", action="store_true", help="also the scenario with one pool for both")
    p.add_argument("--max-active-runs", type=int, default=None,
                   help="backfill days at once (airflow backfill create --max-active-runs; Airflow's default 10)")
    p.add_argument("--prefix", default="spor_bench_backfill", help="PostgreSQL database names PREFIX_<scenario>_*")
    p.add_argument("--dir", type=Path, default=None)
    p.add_argument("--results", type=Path, default=RESULTS, help="directory of bench_backfill_local.jsonl")
    args = p.parse_args(argv)
    from devenv.stack import drop_postgres_database, missing_services

    missing = missing_services()
    if missing:
        print("needs:", *missing, sep="\n- ", file=sys.stderr)
        return 2
    from spor.synthetic.later import change_later

    base = args.dir or Path(tempfile.mkdtemp(prefix="spor-bench-backfill-"))
    nightly_day = FIRST_DAY + timedelta(days=args.days)
    night = f"{nightly_day + timedelta(days=1)}T00:30:00+01:00"  # the night after the nightly's day
    log(f"== generating {args.backfill:,} treatments over {args.days} days and changing {args.nightly:,} on {nightly_day}")
    started = time.monotonic()
    source = LocalEnv(base=base / "data")
    make_pki(source)
    manifest = make_ops(source, n=args.backfill, start=FIRST_DAY, days=args.days)
    nightly = change_later(f"sqlite:///{source.ops_db}", manifest, n=args.nightly, day=nightly_day,
                           manifest_path=source.manifest)
    generate_s = time.monotonic() - started
    watermark = f"{nightly_day:%Y-%m-%d} 05:00:00"  # the night before ended here; its overlap stays in the day

    scenarios = [("alone", None), ("own_pool", BACKFILL_POOL)] + ([("shared_pool", "spor")] if args.shared else [])
    results = []
    for name, backfill in scenarios:
        env = LocalEnv(base=base / name)
        env.base.mkdir(parents=True, exist_ok=True)
        for path in (source.ops_db, source.manifest):
            shutil.copy(path, env.base / path.name)
        shutil.copytree(source.pki, env.pki)
        env.units = dict(source.units)
        results.append(_scenario(name, env, manifest, args, night=night, watermark=watermark, backfill=backfill))
        if not args.dir:
            shutil.rmtree(env.received, ignore_errors=True)  # the stand-in's copies: gigabytes at 200k
        for suffix in ("airflow", "state"):
            drop_postgres_database(f"{args.prefix}_{name}_{suffix}")

    alone = results[0]["nightly"]["finish_s"]
    for r in results:
        r["nightly"]["ratio_to_alone"] = round(r["nightly"]["finish_s"] / alone, 2) if alone else None
    out = {"bench": "bench_backfill_local", "executor": "LocalExecutor", "backfill_treatments": args.backfill,
           "nightly_treatments": len(nightly), "days": args.days, "latency_ms": args.latency_ms,
           "slots_per_pool": args.slots, "threads": args.threads, "batches": args.batches,
           "head_start_s": args.head_start_s, "max_active_runs": args.max_active_runs,
           "generate_s": round(generate_s, 1), "scenarios": results}
    print(json.dumps(out, indent=1))
    args.results.mkdir(parents=True, exist_ok=True)
    with (args.results / "bench_backfill_local.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(out) + "\n")
    nightly_ok = all(r["nightly"]["before_0500"] and r["nightly"]["accepted"] == len(nightly) for r in results)
    return 0 if nightly_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
