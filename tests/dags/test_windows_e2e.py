"""R19 / ADR 0002 end to end: spor_nightly with dag.test() against the stand-in over mutual TLS,
at clock positions around the 05:00 deadline and the 05:15–06:00 blackout, and on both
daylight-saving nights.

The proof is the stand-in's own index: every request it received, stamped on the same simulated
clock the tasks use (``nightly_support.EnvClock``). What a run did not send must wait in the
outbox with the reason (``deadline``, ``blackout``, ``transient``: docs/state-machine.md).

Clock control (``nightly_support.ClockScript``): the clock stands still while the run prepares
and starts running when the sending (or the planning) starts, so the outcome never depends on
how long extraction and the quality gate take on this machine, nor on the real time of day.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.dags.nightly_support import ClockScript, environment, load_dag, outbox, received, scripted_settings, start_night

#: A request passes the product's window check and then crosses the wire; the stand-in stamps it
#: a moment later. That moment, in real seconds, times the clock speed is the tolerance on receive
#: times (the product's own attempt times in the ledger are checked strictly).
TRANSIT_REAL_S = 0.25


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def receive_times(night) -> list[datetime]:
    return [at(r["received_at"]) for r in received(night)]


def ledger_sent_times(night) -> list[datetime]:
    import sqlite3

    with sqlite3.connect(night.env.state_db) as conn:
        rows = [r[0] for r in conn.execute("SELECT sent_at FROM spor_ledger")]
    out = []
    for value in rows:
        t = datetime.fromisoformat(str(value))
        out.append(t if t.tzinfo else t.replace(tzinfo=UTC))
    return out


def assert_nothing_sent_in(night, start: datetime, end: datetime, speed: float) -> None:
    """Nothing left our side (ledger) inside [start, end), nor reached SPOR (stand-in) inside it,
    allowing for one request's transit time on the simulated clock."""
    transit = timedelta(seconds=TRANSIT_REAL_S * speed)
    sent = [t for t in ledger_sent_times(night) if start <= t < end]
    assert not sent, f"{len(sent)} attempts started inside [{start}, {end}): first {min(sent)}"
    late = [t for t in receive_times(night) if start + transit <= t < end]
    assert not late, f"the stand-in received {len(late)} requests inside [{start}, {end}): first {min(late)}"


def sendable(night) -> set[str]:
    """What the manifest says this run must eventually send (buildable, unblocked, not quarantined by the gate)."""
    import sqlite3

    with sqlite3.connect(night.env.state_db) as conn:
        held = {r[0] for r in conn.execute("SELECT behandlingsnummer FROM spor_held_back WHERE state != 'warned'")}
    return night.manifest.expected_rendered() - held


@pytest.fixture
def night(tmp_path, standin_pki, airflow_db):
    night = start_night(tmp_path, standin_pki, n=150, seed=23)
    yield night
    night.standin.stop()


def run(night, script: ClockScript, *, latency_ms: float = 0.0, logical_date="default", config: dict | None = None):
    night.standin.server.config.latency_ms = latency_ms
    dag = script.attach(load_dag("spor_nightly"))
    with environment(scripted_settings(night, script, config=config)):
        if logical_date == "default":
            return dag.test()
        return dag.test(logical_date=logical_date)


# --- deadline -------------------------------------------------------------------------------------
def test_r19_deadline_run_at_0459_sends_until_0500_and_leaves_the_rest_waiting_deadline(night):
    """R19/ADR 0002: a nightly run sending at 04:59:45 stops at 05:00; nothing reaches SPOR at or
    after 05:00, the rest waits in the outbox with reason `deadline`."""
    script = ClockScript("2026-01-15T04:59:45+01:00", speed=5)
    dr = run(night, script, latency_ms=200)
    # A green run means the night is done (spor.state.night): rows left waiting fail it.
    assert dr.state == ("failed" if outbox(night) else "success"), dr.state
    deadline = at("2026-01-15T05:00:00+01:00")
    assert_nothing_sent_in(night, deadline, deadline + timedelta(days=1), script.speed)
    got = {r["behandlingsnummer"] for r in received(night) if r["outcome"] == "created"}
    waiting = outbox(night)
    assert got, "nothing was sent before the deadline"
    assert waiting, "everything fit before 05:00: the test did not reach the deadline"
    assert set(waiting.values()) == {"deadline"}, waiting
    assert got.isdisjoint(waiting)
    assert got | set(waiting) == sendable(night), "a registration was neither sent nor left waiting"


def test_r19_deadline_run_sending_at_0500_sends_nothing_everything_waits_deadline(night):
    """R19/ADR 0002: planned at 04:59:59, the first send at 05:00:00 is already too late: SPOR
    receives nothing, every staged registration waits with reason `deadline`."""
    script = ClockScript("2026-01-15T04:59:59+01:00", "2026-01-15T05:00:00+01:00", speed=5)
    dr = run(night, script)
    # A green run means the night is done (spor.state.night): rows left waiting fail it.
    assert dr.state == ("failed" if outbox(night) else "success"), dr.state
    assert received(night) == []
    waiting = outbox(night)
    assert set(waiting) == sendable(night) and waiting
    assert set(waiting.values()) == {"deadline"}


# --- blackout -------------------------------------------------------------------------------------
def test_r19_retry_in_flight_at_0514_is_not_sent_at_or_after_0515(night):
    """R19/ADR 0002 "retries never cross a limit": SPOR answers 503 to the first twelve requests
    (four threads, three tries each) from 05:14:50 on. The backoff that would end after 05:15 is
    not started: those registrations wait with reason `transient`, the rest stop at 05:15 with
    `blackout`, and nothing reaches SPOR inside the blackout."""
    night.standin.inject("503", 12)
    script = ClockScript("2026-01-15T05:14:50+01:00", speed=1)
    dr = run(night, script, latency_ms=300)
    # A green run means the night is done (spor.state.night): rows left waiting fail it.
    assert dr.state == ("failed" if outbox(night) else "success"), dr.state
    blackout = (at("2026-01-15T05:15:00+01:00"), at("2026-01-15T06:00:00+01:00"))
    assert_nothing_sent_in(night, *blackout, script.speed)
    index = received(night)
    unavailable = {r["behandlingsnummer"] for r in index if r["outcome"] == "injected:503"}
    answered = {r["behandlingsnummer"] for r in index if r["outcome"] in ("created", "updated")}
    waiting = outbox(night)
    assert len([r for r in index if r["outcome"] == "injected:503"]) == 12
    retried_out = unavailable - answered
    assert retried_out, "every 503 was retried successfully: no retry was in flight at the limit"
    assert all(waiting.get(b) == "transient" for b in retried_out), {b: waiting.get(b) for b in retried_out}
    assert "blackout" in waiting.values(), "sending ended before 05:15: the test did not reach the blackout"
    assert set(waiting.values()) <= {"transient", "blackout"}
    assert answered | set(waiting) == sendable(night)


def test_r19_manual_run_triggered_at_0515_waits_deferred_and_sends_from_0600(night):
    """ADR 0002: a run triggered by hand (no logical date) inside the blackout waits
    (wait_for_window, deferrable) and sends everything after 06:00 without a second trigger."""
    script = ClockScript("2026-01-15T05:15:00+01:00", speed=600, release_task="plan_batches")
    dr = run(night, script, logical_date=None)
    # A green run means the night is done (spor.state.night): rows left waiting fail it.
    assert dr.state == ("failed" if outbox(night) else "success"), dr.state
    assert dr.logical_date is None
    times = receive_times(night)
    assert times and min(times) >= at("2026-01-15T06:00:00+01:00"), min(times, default=None)
    assert {r["behandlingsnummer"] for r in received(night)} == sendable(night)
    assert outbox(night) == {}


def test_r19_run_at_0559_waits_for_0600(night):
    """R19: one minute before the blackout ends the run waits; SPOR receives nothing before 06:00."""
    script = ClockScript("2026-01-15T05:59:00+01:00", speed=60, release_task="plan_batches")
    dr = run(night, script)
    # A green run means the night is done (spor.state.night): rows left waiting fail it.
    assert dr.state == ("failed" if outbox(night) else "success"), dr.state
    times = receive_times(night)
    assert times and min(times) >= at("2026-01-15T06:00:00+01:00")
    assert outbox(night) == {}


def test_r19_run_at_0600_sends_at_once(night):
    """R19: the blackout is [05:15, 06:00): at 06:00:00 sending is allowed again, everything goes."""
    script = ClockScript("2026-01-15T06:00:00+01:00", speed=5)
    dr = run(night, script)
    # A green run means the night is done (spor.state.night): rows left waiting fail it.
    assert dr.state == ("failed" if outbox(night) else "success"), dr.state
    times = receive_times(night)
    assert times and min(times) >= at("2026-01-15T06:00:00+01:00")
    assert max(times) < at("2026-01-15T06:05:00+01:00"), "the run waited although the window was open"
    assert {r["behandlingsnummer"] for r in received(night)} == sendable(night)
    assert outbox(night) == {}


# --- daylight-saving nights -----------------------------------------------------------------------
@pytest.mark.parametrize("prepare_at, send_at, deadline", [
    # 29 March 2026: 02:00 CET -> 03:00 CEST. Planned at 01:30 CET, the deadline is 05:00 CEST
    # (03:00 UTC); "planned + 3.5 h" would be 06:00 CEST and keep sending past 05:00.
    ("2026-03-29T01:30:00+01:00", "2026-03-29T04:59:45+02:00", "2026-03-29T05:00:00+02:00"),
    # 25 October 2026: 03:00 CEST -> 02:00 CET. Planned at the first 02:30 (CEST), the deadline is
    # 05:00 CET (04:00 UTC); "planned + 2.5 h" would be 04:00 CET and send nothing here.
    ("2026-10-25T02:30:00+02:00", "2026-10-25T04:59:45+01:00", "2026-10-25T05:00:00+01:00"),
], ids=["spring-forward", "fall-back"])
def test_r19_daylight_saving_night_deadline_is_0500_wall_time(night, prepare_at, send_at, deadline):
    """R19 "times are Swedish local time": on both daylight-saving nights the run prepares in the
    changed hour and stops sending at 05:00 wall time (not a fixed number of hours after it started)."""
    script = ClockScript(prepare_at, send_at, speed=5)
    dr = run(night, script, latency_ms=200)
    # A green run means the night is done (spor.state.night): rows left waiting fail it.
    assert dr.state == ("failed" if outbox(night) else "success"), dr.state
    limit = at(deadline)
    assert_nothing_sent_in(night, limit, limit + timedelta(days=1), script.speed)
    waiting = outbox(night)
    assert received(night), "nothing was sent before 05:00 local time"
    assert waiting and set(waiting.values()) == {"deadline"}, waiting
