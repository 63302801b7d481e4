"""``make demo-celery``: one night on a distributed Airflow, all on this machine.

Airflow's metadata database and the state database on the local PostgreSQL (databases of their own,
created here), CeleryExecutor with Redis as the broker (a database number of its own), a scheduler,
a dag-processor, a triggerer, an API server and two Celery workers as separate processes, the
stand-in SPOR service, and the simulated clock in every process. ``spor_nightly`` runs through the
real scheduler; the summary is printed as ``make demo`` prints it, with the worker of every batch.
Everything it started is stopped at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from devenv import LocalEnv, make_ops, make_pki, stack
from devenv.distributed import run_night_on_stack

ROOT = Path(__file__).resolve().parents[1]
NIGHT = "2025-12-01T01:00:00+01:00"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--treatments", type=int, default=3000)
    p.add_argument("--latency-ms", type=float, default=20.0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--redis-db", type=int, default=5)
    args = p.parse_args(argv)

    missing = stack.missing_services()
    if missing:
        print("make demo-celery needs services this machine does not offer:", *missing, sep="\n- ")
        print("(make demo runs the same night embedded, without them)")
        return 2
    env = LocalEnv(ROOT / ".demo-celery")
    env.base.mkdir(exist_ok=True)
    print("== test PKI and a synthetic OPS database …", flush=True)
    make_pki(env)
    manifest = make_ops(env, n=args.treatments)
    started = time.perf_counter()
    result = run_night_on_stack(env, manifest, night=NIGHT, executor="celery", workers=args.workers, redis_db=args.redis_db,
                                 latency_ms=args.latency_ms, prefix="spor_demo_celery", log=print)
    print()
    print(result.summary_text)
    print(f"\n== spor_nightly {result.run_id}: {result.state} in {time.perf_counter() - started:.0f} s")
    print("   send batches per Celery worker:")
    for worker, batches in sorted(result.batches_by_worker.items()):
        print(f"     {worker}: {len(batches)} batches ({', '.join(map(str, sorted(batches)))})")
    print(f"   stand-in received {result.received} requests; logs: {env.base / 'logs'}")
    return 0 if result.state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
