"""Crash takeover end to end (docs/adr/0005-crash-takeover-heartbeat-lease.md): the process
running ``spor_nightly`` under ``dag.test`` is SIGKILLed while it sends; a rerun started at once
sends every remaining sendable registration in that same run and ends green; exactly the
registrations that reached the stand-in without their answer being recorded are sent twice.
Uses the soak benchmark's night on a small OPS."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_dag_test_killed_mid_send_then_immediate_rerun_finishes_the_night(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_soak", ROOT / "bench" / "bench_soak.py")
    bench_soak = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_soak)
    args = argparse.Namespace(treatments=400, latency_ms=20.0, threads=4, batches=4, seed=3)
    free = bench_soak.night("fault_free", args, tmp_path)
    killed = bench_soak.night("sigkill_and_rerun", args, tmp_path)
    assert killed["kill"]["accepted_before"] < free["accepted"], "the kill came after sending was over"
    assert killed["kill"]["accepted_before"] > 0, "the kill came before sending began"
    assert killed["state"] == ["success"], "the rerun after the kill is not green"
    # Nothing lost; on failure the numbers and the two runs' logs say where it went.
    assert killed["accepted"] == free["accepted"] and killed["left_in_outbox"] == 0, (
        f"fault-free {free}; killed and rerun {killed}; logs: {sorted(str(p) for p in tmp_path.glob('*.log'))}")
    # Exactly what reached the stand-in without its answer being recorded is received twice: an
    # attempt in flight at the kill may or may not have reached it, and nothing else is resent.
    assert killed["received_twice"] == killed["kill"]["resend_expected"], killed
    assert killed["received_more_than_twice"] == [], killed
    assert len(killed["kill"]["resend_expected"]) <= killed["kill"]["in_flight"] <= args.threads, killed
