"""The send batch's circuit breaker end to end (docs/adr/0005-crash-takeover-heartbeat-lease.md,
docs/state-machine.md): ``spor_nightly`` under ``dag.test`` against the stand-in over mutual TLS.

- SPOR down for a moment: the breaker opens after its first answers are all 503, probes with one
  request, closes when the probe is answered, and the night finishes green with everything sent.
- SPOR down all night: the breaker opens, its probes fail, and the batch stops with "SPOR
  unavailable" after a few dozen requests instead of four tries per registration; every
  registration waits with reason ``transient`` and the run is not green (R13: a green run means
  the night is done).
"""

from __future__ import annotations

from tests.dags.nightly_support import ClockScript, environment, load_dag, outbox, received, scripted_settings, start_night, xcom

ONE_BATCH = {"batches_per_run": 1, "threads_per_task": 4}


def _night(tmp_path, pki, **standin):
    return start_night(tmp_path, pki, n=150, seed=29, **standin)


def _run(night, speed: float, config: dict):
    script = ClockScript("2026-01-15T01:00:00+01:00", speed=speed)
    dag = script.attach(load_dag("spor_nightly"))
    with environment(scripted_settings(night, script, config=config)):
        return dag.test()


def _staged(night) -> set[str]:
    import sqlite3

    with sqlite3.connect(night.env.state_db) as conn:
        return {r[0] for r in conn.execute("SELECT DISTINCT behandlingsnummer FROM spor_ledger")} | set(outbox(night))


def test_breaker_opens_probes_and_closes_when_spor_comes_back_night_is_green(tmp_path, standin_pki, airflow_db):
    """SPOR answers 503 to the first 24 requests: the breaker opens (20 answers, all transient),
    a probe goes out after the pause, and once one is answered it closes; every sendable
    registration is then accepted and the run is green."""
    night = _night(tmp_path, standin_pki)
    try:
        night.standin.inject("503", 24)
        dr = _run(night, speed=1, config=ONE_BATCH)
        batch = xcom(dr, "send_batch", map_index=0)
        index = received(night)
    finally:
        night.standin.stop()
    assert batch["breaker"][:2] == ["open", "half_open"] and batch["breaker"][-1] == "closed", batch["breaker"]
    assert batch["stopped"] is None
    assert dr.state == "success", dr.state
    assert outbox(night) == {}
    injected = [r for r in index if r["outcome"] == "injected:503"]
    accepted = {r["behandlingsnummer"] for r in index if r["outcome"] in ("created", "updated")}
    assert len(injected) == 24
    assert {r["behandlingsnummer"] for r in injected} <= accepted     # each was retried and accepted
    assert accepted == _staged(night)


def test_breaker_spor_unavailable_all_night_stops_the_batch_rows_wait_transient_run_not_green(
        tmp_path, standin_pki, airflow_db):
    """Every request gets 503: the first batch's breaker opens after 20, probes fail, and after its
    give-up time (300 s on the run's clock, which runs 30x here) it stops with "unavailable". The
    second batch then sends one probe and stops too. SPOR saw a few dozen requests, not four per
    registration; every registration waits `transient`; the summary fails the run with the count
    and the reason and notes "SPOR unavailable"."""
    from spor.state import database, run_summary
    from standin.faults import FaultPlan

    night = _night(tmp_path, standin_pki, faults=FaultPlan(unavailable_share=1.0))
    try:
        dr = _run(night, speed=30, config={"batches_per_run": 2, "threads_per_task": 4})
        first, second = sorted((xcom(dr, "send_batch", map_index=i) for i in (0, 1)), key=lambda b: -b["attempted"])
        index = received(night)
    finally:
        night.standin.stop()
    waiting = outbox(night)
    assert first["stopped"] == second["stopped"] == "unavailable", (first, second)
    assert first["breaker"][0] == "open" and "closed" not in first["breaker"], first["breaker"]
    assert second["attempted"] == 1 and second["breaker"] == ["open", "half_open", "open"], second
    assert dr.state == "failed", "SPOR was unavailable all night, yet the run is green"
    assert len(waiting) > 100 and set(waiting.values()) == {"transient"}, set(waiting.values())
    assert len(index) < 40, f"{len(index)} requests to an unavailable SPOR"   # not 4 x {len(waiting)}
    db = database.connect(f"sqlite:///{night.env.state_db}", upgrade=False)
    try:
        summary = run_summary.load(db, "spor_nightly", dr.run_id)
    finally:
        db.dispose()
    assert summary["night_not_done"]["waiting"] == len(waiting)
    assert summary["night_not_done"]["by_reason"] == {"transient": len(waiting)}
    assert any("SPOR unavailable" in note for note in summary["notes"]), summary["notes"]

