"""Benchmark: the nightly beside a large backfill, stand-in at 20 ms.

    .venv/bin/python bench/bench_backfill_priority.py [--backfill 200000] [--nightly 2000] [--latency-ms 20]
        [--slots 2] [--threads 4] [--batches 8] [--head-start-s 10] [--results DIR]

A backfill's registrations are staged in the outbox (run ``backfill__…``, the backfill's priority)
and planned in its batches, and the backfill starts sending; ``--head-start-s`` later the
nightly stages its own registrations, plans them (its own first) and sends them. Both use the
project's own outbox, planning (spor.state.batches.plan), send loop (spor.send.batch, the body of
``send_batch``) and SOAP client over mutual TLS, against the stand-in in its own process, with one
process per pool slot, as LocalExecutor runs each send task in a process of its own. What is left
out is Airflow's scheduling around them (extract, gate, build; the scheduler handing a pool slot
to the next queued batch is a queue per pool here).

Measured in one run:
* ``alone``: the nightly with nothing else sending (its floor on this machine, this run);
* ``own_pool``: the nightly beside the backfill, the backfill in ``[spor] backfill_pool`` (the
  nightly keeps its ``--slots``);
* ``shared_pool`` (unless ``--no-shared``): the same with one pool for both, as before
  ``[spor] backfill_pool`` existed: the nightly's batches queue behind the backfill's.
For each: the nightly's finish time (from its planning to its last answer) and its ratio to
``alone``; the backfill's throughput against the network floor (registrations x latency /
concurrency). Whether the nightly's registrations were all sent before its window closes (a
night starting at 00:30, the deadline 05:00) is read from its finish time. Results are printed
and appended as JSON to bench/results/bench_backfill_priority.jsonl (``--results`` names another
directory).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
NIGHT_START = "2025-12-01T00:30:00+01:00"
ENVIRONMENT = "stage"
#: The night's window: 00:30 to 05:00.
WINDOW_S = 4.5 * 3600
#: The batches' heartbeat: a batch ends within one beat of its last answer; shorter than the
#: default 10 s so that the finish times of small runs are not a multiple of it.
BEAT = timedelta(seconds=0.5)


@dataclass(frozen=True)
class _Reg:
    behandlingsnummer: str
    system_id: str
    xml_bytes: bytes
    content_hash: str


def _registrations(prefix: str, n: int) -> list[_Reg]:
    from standin.testing import KNOWN_SYSTEM_ID, hand_built_registration

    template = hand_built_registration("NUMBER0000").xml_bytes
    out = []
    for i in range(n):
        xml = template.replace(b"NUMBER0000", f"{prefix}{i:08d}".encode())
        out.append(_Reg(f"{prefix}{i:08d}", KNOWN_SYSTEM_ID, xml, hashlib.sha256(xml).hexdigest()))
    return out


def _slot(queue: Any, ready: Any, db_url: str, standin_url: str, pki_dir: str, threads: int, has_deadline: bool,
          clock_anchor: float) -> None:
    """One pool slot: sends the batches its pool's queue hands it, one after another (one process,
    like a LocalExecutor worker running send_batch)."""
    from spor.clock import SimulatedClock
    from spor.send import batch as sending
    from spor.send.windows import SendingWindow
    from spor.state.database import connect
    from spor.transport.client import SporClient
    from standin.make_pki import Pki
    from standin.testing import spor_config

    clock = SimulatedClock(start=datetime.fromisoformat(NIGHT_START), anchor=clock_anchor)
    db = connect(db_url, clock=clock, upgrade=False)
    client = SporClient(spor_config(standin_url, Pki(Path(pki_dir))), pool_size=threads)
    window = SendingWindow.for_run(has_deadline=has_deadline, started_at=clock.now())
    ready.put(True)
    while True:
        bid = queue.get()
        if bid is None:
            return
        sending.send_planned_batch(bid, db=db, client=client, clock=clock, window=window,
                                   block_check=lambda numbers: set(), threads=threads, beat=BEAT)


class _Pool:
    """Airflow pool stand-in: ``slots`` processes taking batches from one queue in order."""

    def __init__(self, ctx: Any, slots: int, args: tuple[Any, ...]) -> None:
        self.queue, ready = ctx.Queue(), ctx.Queue()
        self.procs = [ctx.Process(target=_slot, args=(self.queue, ready, *args), daemon=True) for _ in range(slots)]
        for p in self.procs:
            p.start()
        for _ in self.procs:  # started, imported, client built: not counted in anybody's time
            ready.get(timeout=300)

    def submit(self, batch_ids: list[int]) -> None:
        for bid in batch_ids:
            self.queue.put(bid)

    def close(self, wait: bool = True) -> None:
        for _ in self.procs:
            self.queue.put(None)
        for p in self.procs:
            if wait:
                p.join()
            else:
                p.terminate()


def _remaining(db: Any, prefix: str) -> int:
    import sqlalchemy as sa

    from spor.state.tables import outbox

    with db.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(outbox).where(
            outbox.c.behandlingsnummer.like(f"{prefix}%"))).scalar_one())


def _wait_sent(db: Any, prefix: str, timeout_s: float) -> float | None:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout_s:
        if _remaining(db, prefix) == 0:
            return time.perf_counter()
        time.sleep(0.05)
    return None


def _scenario(name: str, args: argparse.Namespace, ctx: Any, db_url: str, slot_args: tuple[Any, ...],
              nightly_args: tuple[Any, ...], backfill: bool, shared: bool) -> dict[str, Any]:
    from spor.state import batches, outbox
    from spor.state.database import connect
    from spor.tasks.runinfo import BACKFILL, NIGHTLY, STAGING_PRIORITY

    db = connect(db_url, upgrade=False)
    tag = {"alone": "A", "own_pool": "O", "shared_pool": "S"}[name]
    result: dict[str, Any] = {"scenario": name}
    pools: list[_Pool] = []
    try:
        backfill_pool = None
        own = None if shared else _Pool(ctx, args.slots, nightly_args)
        if own is not None:
            pools.append(own)
        if backfill:
            run = f"backfill__{name}"
            t = time.perf_counter()
            outbox.stage(db, run, ENVIRONMENT, _registrations(f"{tag}B", args.backfill),
                         priority=STAGING_PRIORITY[BACKFILL])
            size = -(-args.backfill // args.batches)
            backfill_ids = batches.plan(db, run, ENVIRONMENT, size, args.batches, dag_id="spor_nightly",
                                        priority=STAGING_PRIORITY[BACKFILL])
            result["backfill_stage_s"] = round(time.perf_counter() - t, 2)
            backfill_pool = _Pool(ctx, args.slots, slot_args)
            pools.append(backfill_pool)
            backfill_started = time.perf_counter()
            backfill_pool.submit(backfill_ids)
            time.sleep(args.head_start_s)
            result["backfill_sent_before_nightly"] = args.backfill - _remaining(db, f"{tag}B")
        nightly_pool = own or backfill_pool
        assert nightly_pool is not None
        run = f"scheduled__{name}"
        nightly_started = time.perf_counter()
        outbox.stage(db, run, ENVIRONMENT, _registrations(f"{tag}N", args.nightly), priority=STAGING_PRIORITY[NIGHTLY])
        size = max(50, -(-args.nightly // args.batches))
        nightly_pool.submit(batches.plan(db, run, ENVIRONMENT, size, args.batches, dag_id="spor_nightly",
                                         priority=STAGING_PRIORITY[NIGHTLY]))
        done = _wait_sent(db, f"{tag}N", args.timeout_s)
        result["nightly_s"] = round(done - nightly_started, 2) if done else None
        result["nightly_in_window"] = done is not None and done - nightly_started <= WINDOW_S
        if backfill:
            if shared:
                result["backfill_left_when_nightly_done"] = _remaining(db, f"{tag}B")
            end = _wait_sent(db, f"{tag}B", args.timeout_s)
            if end is not None:
                elapsed = end - backfill_started
                concurrency = args.slots * args.threads
                floor = args.backfill * (args.latency_ms / 1000) / concurrency
                result.update(backfill_s=round(elapsed, 2), backfill_per_s=round(args.backfill / elapsed, 1),
                              backfill_floor_s=round(floor, 2), backfill_share_of_floor=round(floor / elapsed, 3))
    finally:
        for p in pools:
            p.close()
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backfill", type=int, default=200_000, help="registrations of the backfill")
    p.add_argument("--nightly", type=int, default=2000, help="registrations of the nightly")
    p.add_argument("--latency-ms", type=float, default=20.0)
    p.add_argument("--slots", type=int, default=2, help="slots of each pool (processes)")
    p.add_argument("--threads", type=int, default=4, help="threads per send task")
    p.add_argument("--batches", type=int, default=8, help="batches per run")
    p.add_argument("--head-start-s", type=float, default=10.0, help="the backfill sends this long before the nightly")
    p.add_argument("--no-shared", action="store_true", help="skip the shared-pool scenario")
    p.add_argument("--timeout-s", type=float, default=3 * 3600)
    p.add_argument("--dir", type=Path, default=None)
    p.add_argument("--results", type=Path, default=RESULTS, help="directory of bench_backfill_priority.jsonl")
    args = p.parse_args(argv)

    from spor.state.database import connect
    from standin.make_pki import make_pki
    from standin.server import start_subprocess

    work = args.dir or Path(tempfile.mkdtemp(prefix="bench-backfill-priority-"))
    pki = make_pki(work / "pki")
    server = start_subprocess(["--pki", str(pki.dir), "--received", str(work / "received"), "--port", "0",
                               "--latency-ms", str(args.latency_ms)])
    db_url = f"sqlite:///{work / 'state.db'}"
    connect(db_url)  # tables created once, before the slots open it
    ctx = mp.get_context("spawn")
    anchor = time.time()
    nightly_args = (db_url, server.url, str(pki.dir), args.threads, True, anchor)
    backfill_args = (db_url, server.url, str(pki.dir), args.threads, False, anchor)
    started = time.perf_counter()
    scenarios = []
    try:
        scenarios.append(_scenario("alone", args, ctx, db_url, backfill_args, nightly_args, backfill=False, shared=False))
        scenarios.append(_scenario("own_pool", args, ctx, db_url, backfill_args, nightly_args, backfill=True, shared=False))
        if not args.no_shared:
            scenarios.append(_scenario("shared_pool", args, ctx, db_url, backfill_args, nightly_args,
                                       backfill=True, shared=True))
    finally:
        server.stop()
    alone = scenarios[0]["nightly_s"]
    for s in scenarios[1:]:
        s["nightly_ratio_to_alone"] = round(s["nightly_s"] / alone, 2) if s.get("nightly_s") and alone else None
    result = {"bench": "backfill_priority", "at": datetime.now().astimezone().isoformat(timespec="seconds"),
              "backfill": args.backfill, "nightly": args.nightly, "latency_ms": args.latency_ms,
              "slots": args.slots, "threads": args.threads, "batches": args.batches,
              "head_start_s": args.head_start_s, "wall_s": round(time.perf_counter() - started, 1),
              "scenarios": scenarios}
    print(json.dumps(result, indent=2))
    args.results.mkdir(parents=True, exist_ok=True)
    with (args.results / "bench_backfill_priority.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(result) + "\n")
    ok = all(s.get("nightly_in_window") for s in scenarios)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
