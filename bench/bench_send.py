"""Send N registrations to the stand-in (50 ms latency) with C threads sharing one SporClient.

    .venv/bin/python bench/bench_send.py [-n 800] [-c 8] [--latency-ms 50] [--subprocess]

Concurrency C = threads sharing ONE client whose connection pool has C slots (in Airflow:
pool slots x threads per task, each task its own client). Ideal throughput is C / latency;
the target is >= 85 % of it at C = 8 (engineering notes 28, 29). Prints one JSON line.
By default the stand-in runs in its own process (as SPOR does: its CPU is not ours);
``--in-process`` runs it in a thread of this process instead (shares the GIL, slower).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", type=int, default=800, help="registrations to send")
    p.add_argument("-c", type=int, default=8, help="threads sharing one client (= pool size)")
    p.add_argument("--latency-ms", type=float, default=50.0)
    p.add_argument("--in-process", action="store_true", help="run the stand-in in a thread of this process")
    args = p.parse_args(argv)

    from spor.transport.client import SporClient
    from standin.make_pki import make_pki
    from standin.server import StandinConfig, run_in_thread, start_subprocess
    from standin.testing import hand_built_registration, spor_config

    work = Path(tempfile.mkdtemp(prefix="bench-send-"))
    pki = make_pki(work / "pki")
    if args.in_process:
        server = run_in_thread(StandinConfig(pki_dir=pki.dir, received_dir=work / "received", latency_ms=args.latency_ms))
    else:
        server = start_subprocess(["--pki", str(pki.dir), "--received", str(work / "received"), "--port", "0",
                                   "--latency-ms", str(args.latency_ms)])
    try:
        client = SporClient(spor_config(server.url, pki), pool_size=args.c)
        registrations = [hand_built_registration(f"B{i:07d}") for i in range(args.n)]
        client.post(hand_built_registration("WARMUP"))  # WSDL parsed, first connection open
        next_index = iter(range(args.n))
        lock = threading.Lock()
        states: dict[str, int] = {}
        errors: list[str] = []

        def worker() -> None:
            while True:
                with lock:
                    i = next(next_index, None)
                if i is None:
                    return
                try:
                    answer = client.post(registrations[i])
                    with lock:
                        states[answer.state.value] = states.get(answer.state.value, 0) + 1
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    with lock:
                        errors.append(type(exc).__name__)

        threads = [threading.Thread(target=worker) for _ in range(args.c)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
    finally:
        server.stop()
    ideal = args.c / (args.latency_ms / 1000) if args.latency_ms else float("inf")
    throughput = args.n / elapsed
    result = {
        "n": args.n, "concurrency": args.c, "latency_ms": args.latency_ms,
        "standin": "thread" if args.in_process else "process",
        "elapsed_s": round(elapsed, 3), "throughput_per_s": round(throughput, 1), "ideal_per_s": round(ideal, 1),
        "share_of_ideal": round(throughput / ideal, 3), "states": states, "errors": len(errors),
    }
    print(json.dumps(result))
    return 0 if not errors else 1


if __name__ == "__main__":
    raise SystemExit(main())
