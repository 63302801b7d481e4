"""SystemIds SPOR does not know yet, end to end with dag.test() against the stand-in over mutual
TLS (R17: SPOR answers ``ERROR … Systemet X som angivits i SystemId hittas inte``).

Night 1 the stand-in does not know one unit's SystemId: its registrations are rejected, and the
summary groups them per SystemId with the action. Night 2 it still does not: exactly one probe
goes, is refused, the rest wait (not sent, not "waiting" either: the run is green). Night 3 UCR
has registered it, the OPS unchanged: one probe first, then every one of the unit's refused
registrations is accepted the same night. And spor_resend by SPOR's last answer (rejected, text
contains) sends exactly the rejected ones it matches.
"""

from __future__ import annotations

import sqlite3

import pytest

from tests.dags.nightly_support import ClockScript, environment, load_dag, night_settings, received, scripted_settings, start_night

NIGHTS = ("2025-12-01T01:00:00+01:00", "2025-12-02T01:00:00+01:00", "2025-12-03T01:00:00+01:00")
DAYTIME = "2025-12-02T10:00:00+01:00"


@pytest.fixture
def night(tmp_path, standin_pki, airflow_db):
    night = start_night(tmp_path, standin_pki, n=180, seed=23)
    yield night
    night.standin.stop()


def summary_text(night, dag_id: str, run_id: str) -> str:
    from spor.state import database as statedb
    from spor.state import run_summary
    from spor.state.summary import render_text

    db = statedb.connect(f"sqlite:///{night.env.state_db}")
    try:
        saved = run_summary.load(db, dag_id, run_id)
        assert saved is not None
        return render_text(saved)
    finally:
        db.dispose()


def unit_sizes(night) -> dict[str, int]:
    with sqlite3.connect(night.env.ops_db) as conn:
        return {str(u): int(n) for u, n in conn.execute("SELECT enhet, count(*) FROM spor_behandling GROUP BY enhet")}


def requests_for(night, system_id: str, since: int = 0) -> list[dict]:
    return [r for r in received(night)[since:] if r.get("system_id") == system_id]


def test_unknown_system_id_is_probed_each_night_and_the_rest_follow_once_spor_knows_it(night):
    dag = load_dag("spor_nightly")
    units = dict(night.manifest.units)
    unit = max(units, key=lambda u: unit_sizes(night).get(u, 0))
    sid = units[unit]
    night.standin.know_system_ids(s for u, s in units.items() if u != unit)

    # night 1: SPOR does not know the unit's SystemId
    with environment(night_settings(night, NIGHTS[0])):
        first = dag.test(logical_date=None)
    assert first.state == "success", first.state
    refused = {r["behandlingsnummer"] for r in requests_for(night, sid)}
    assert len(refused) > 10 and {r["outcome"] for r in requests_for(night, sid)} == {"rejected"}
    assert {r["outcome"] for r in received(night) if r.get("system_id") != sid} <= {"created"}
    text = summary_text(night, "spor_nightly", first.run_id)
    lines = [line for line in text.splitlines() if f"SystemId {sid} (unit {unit})" in line]
    assert len(lines) == 1, text
    assert f"ask UCR to register SystemId {sid}" in lines[0] and "check spor_units" in lines[0]
    assert f"{len(refused):>6}" in lines[0]

    # night 2: still unknown, no OPS change: one probe, refused; the rest wait for the next night
    before = len(received(night))
    with environment(night_settings(night, NIGHTS[1])):
        second = dag.test(logical_date=None)
    assert second.state == "success", "registrations behind a refused probe do not make the night 'not done'"
    tonight = requests_for(night, sid, before)
    assert len(tonight) == 1 and tonight[0]["outcome"] == "rejected", tonight
    assert tonight[0]["behandlingsnummer"] == min(refused), "the probe is the lowest refused number"
    text = summary_text(night, "spor_nightly", second.run_id)
    line = next(line for line in text.splitlines() if f"SystemId {sid} (unit {unit})" in line)
    assert "tonight's probe was refused again" in line and f"{len(refused):>6}" in line, text
    with sqlite3.connect(night.env.state_db) as conn:
        assert not conn.execute("SELECT count(*) FROM spor_outbox WHERE system_id = ?", (sid,)).fetchone()[0]

    # night 3: UCR registered the SystemId, the OPS did not change: one probe, then all of them
    night.standin.know_system_ids(units.values())
    before = len(received(night))
    with environment(night_settings(night, NIGHTS[2])):
        third = dag.test(logical_date=None)
    assert third.state == "success", third.state
    tonight = requests_for(night, sid, before)
    assert tonight[0]["behandlingsnummer"] == min(refused) and tonight[0]["outcome"] == "created"
    assert sorted(r["behandlingsnummer"] for r in tonight) == sorted(refused), "each refused one sent exactly once"
    assert {r["outcome"] for r in tonight} == {"created"}, "all of the unit's registrations accepted in night 3"
    with sqlite3.connect(night.env.state_db) as conn:
        events = [m for (m,) in conn.execute("SELECT message FROM spor_run_event WHERE run_id = ?", (third.run_id,))]
    assert [m for m in events if m == f"SystemId {sid}: SPOR accepted the probe; {len(refused) - 1} registration(s) "
            "behind it are sent now"], "the rest went only after SPOR accepted the probe"
    text = summary_text(night, "spor_nightly", third.run_id)
    assert not [line for line in text.splitlines() if f"SystemId {sid} (unit" in line], text
    assert f"SPOR knows SystemId {sid} now: the probe was accepted and {len(refused) - 1} registration(s)" in text


def test_resend_by_last_answer_sends_exactly_the_rejected_ones_matching_the_text(night):
    """spor_resend with `rejected` and `answer_text_contains`: of the registrations SPOR last
    rejected (two units' SystemIds unknown), exactly those whose answer names one SystemId go."""
    units = dict(night.manifest.units)
    sizes = unit_sizes(night)
    a, b = sorted(units, key=lambda u: -sizes.get(u, 0))[:2]
    night.standin.know_system_ids(s for u, s in units.items() if u not in (a, b))
    with environment(night_settings(night, NIGHTS[0])):
        assert load_dag("spor_nightly").test(logical_date=None).state == "success"
    refused_a = {r["behandlingsnummer"] for r in requests_for(night, units[a])}
    refused_b = {r["behandlingsnummer"] for r in requests_for(night, units[b])}
    assert refused_a and refused_b

    night.standin.know_system_ids(units.values())
    before = len(received(night))
    script = ClockScript(DAYTIME, speed=1)
    resend = script.attach(load_dag("spor_resend"))
    with environment(scripted_settings(night, script)):
        run = resend.test(run_conf={"rejected": True, "answer_text_contains": f"systemet {units[a]} som"})
    assert run.state == "success", run.state
    sent = {r["behandlingsnummer"]: r["outcome"] for r in received(night)[before:]}
    assert set(sent) == refused_a, "exactly the rejected registrations whose answer matches"
    assert set(sent.values()) == {"created"}
