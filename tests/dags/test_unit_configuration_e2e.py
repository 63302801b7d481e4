"""Units and their configuration end to end with dag.test() against the stand-in over mutual TLS:
a unit missing from ``spor_units`` is held back for configuration and sent the night after it is
added, with no change in the OPS; a production night sends only approved units, and neither the
night nor a forced resend lets an unapproved unit reach production; the upgrade rule (accepted
production answers in the ledger count as approved) keeps a unit sending, with a warning.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from tests.dags.nightly_support import environment, load_dag, night_settings, received, start_night

WINTER_NIGHT = "2025-12-01T01:00:00+01:00"
NEXT_NIGHT = "2025-12-02T01:00:00+01:00"
PRODUCTION = {"environment": "production"}
APPROVED = {"production": {"date": "2026-01-15", "reference": "UCR ärende 4711"}}


@pytest.fixture
def night(tmp_path, standin_pki, airflow_db):
    night = start_night(tmp_path, standin_pki, n=240, seed=11)
    yield night
    night.standin.stop()


def numbers_of_unit(night, unit: str) -> set[str]:
    with sqlite3.connect(night.env.ops_db) as conn:
        return {str(r[0]) for r in conn.execute("SELECT behandlingsnummer FROM spor_behandling WHERE enhet = ?", (unit,))}


def held_for_configuration(night, environment: str) -> dict[str, tuple[str, str]]:
    """behandlingsnummer -> (cause, unit) of what the state database holds back for configuration."""
    with sqlite3.connect(night.env.state_db) as conn:
        return {r[0]: (r[1], r[2]) for r in conn.execute(
            "SELECT behandlingsnummer, cause, unit FROM spor_held_configuration WHERE environment = ?", (environment,))}


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


def largest_unit(night) -> str:
    return max(night.manifest.units, key=lambda u: len(numbers_of_unit(night, u)))


def clean(night, numbers: set[str]) -> set[str]:
    """Those of ``numbers`` with no defect and not blocked: the gate and the builder pass them."""
    m = night.manifest
    return {b for b in numbers if b in m.treatments and not m.treatments[b].defects and m.treatments[b].blocked is None}


def test_unit_added_to_spor_units_sends_its_held_back_treatments_the_next_night(night):
    """Night 1 without one unit in spor_units: its treatments are held back for configuration (by
    number, no payload), the run is green (held back is not waiting). Night 2 with the unit added
    and no change in the OPS: every one of them is read again by number and accepted."""
    dag = load_dag("spor_nightly")
    unit = largest_unit(night)
    ours = numbers_of_unit(night, unit)
    all_units = dict(night.env.units)
    night.env.units = {u: s for u, s in all_units.items() if u != unit}
    with environment(night_settings(night, WINTER_NIGHT)):
        first = dag.test(logical_date=None)
    assert first.state == "success", "held back for configuration must not fail the night"
    sent_first = {r["behandlingsnummer"] for r in received(night)}
    assert sent_first and not sent_first & ours, "a treatment of the unmapped unit reached SPOR"
    held = held_for_configuration(night, "stage")
    held_ours = {b for b, (cause, u) in held.items() if u == unit}
    assert clean(night, ours) <= held_ours and len(held_ours) > 20
    assert {held[b][0] for b in held_ours} == {"unit-mapping"}
    with sqlite3.connect(night.env.state_db) as conn:
        columns = {r[1] for r in conn.execute("PRAGMA table_info(spor_held_configuration)")}
    assert not columns & {"payload", "personnummer", "row"}, "held back for configuration keeps no personal data"
    text = summary_text(night, "spor_nightly", first.run_id)
    lines = [line for line in text.splitlines() if line.strip().startswith(unit) and "unit-mapping" in line]
    assert len(lines) == 1 and "add the unit to spor_units" in lines[0], text

    night.env.units = all_units  # the team adds the unit; the OPS does not change
    before = len(received(night))
    with environment(night_settings(night, NEXT_NIGHT)):
        second = dag.test(logical_date=None)
    assert second.state == "success", second.state
    sent_second = {r["behandlingsnummer"]: r["outcome"] for r in received(night)[before:]}
    assert clean(night, ours) <= set(sent_second) <= held_ours
    assert set(sent_second.values()) == {"created"}, "every held-back treatment is accepted in night 2"
    assert not {b for b, (_c, u) in held_for_configuration(night, "stage").items() if u == unit}
    after = summary_text(night, "spor_nightly", second.run_id).splitlines()
    assert not [line for line in after if line.strip().startswith(unit) and "unit-mapping" in line]


def test_production_sends_only_approved_units_and_the_ledger_keeps_an_already_sending_unit(night):
    """A production night with one unit not approved: nothing of it reaches the stand-in, the rest
    is sent, the summary says why in one line. spor_resend with force to production does not send
    it either. With approvals not recorded at all (an upgraded site), the units SPOR production
    already accepted keep sending, with a warning; the unapproved one still does not."""
    unit = largest_unit(night)
    ours = numbers_of_unit(night, unit)
    plain = dict(night.env.units)
    night.env.units = {u: (s if u == unit else {"system_id": s, "approved": APPROVED}) for u, s in plain.items()}
    with environment(night_settings(night, WINTER_NIGHT, spor_extra=PRODUCTION)):
        run = load_dag("spor_nightly").test(logical_date=None)
    assert run.state == "success", run.state
    sent = {r["behandlingsnummer"] for r in received(night)}
    assert sent and not sent & ours, "a treatment of an unapproved unit reached production"
    others = clean(night, {b for u in plain if u != unit for b in numbers_of_unit(night, u)})
    assert others <= sent, "the approved units' treatments were not all sent"
    held = held_for_configuration(night, "production")
    assert clean(night, ours) <= {b for b, (cause, u) in held.items() if u == unit and cause == "not-approved"}
    text = summary_text(night, "spor_nightly", run.run_id)
    why = [line for line in text.splitlines() if "not approved for production" in line]
    assert len(why) == 1 and unit in why[0], text

    # spor_resend with force, to production: the unapproved unit's treatments still do not go
    before = len(received(night))
    chosen = sorted(clean(night, ours))[:5] + sorted(others)[:3]
    form = {"behandlingsnummer": chosen, "force": True, "environment": "default"}
    with environment(night_settings(night, NEXT_NIGHT, spor_extra=PRODUCTION)):
        resend = load_dag("spor_resend").test(run_conf=form)
    assert resend.state == "success", resend.state
    resent = {r["behandlingsnummer"] for r in received(night)[before:]}
    assert resent == set(sorted(others)[:3]), "force must not send an unapproved unit to production"

    # upgraded site: spor_units in the plain form, no approval recorded; the ledger has production
    # answers for every unit but the unapproved one
    night.env.units = plain
    before = len(received(night))
    with environment(night_settings(night, NEXT_NIGHT, spor_extra=PRODUCTION)):
        upgraded = load_dag("spor_resend").test(run_conf=form)
    assert upgraded.state == "success", upgraded.state
    resent = {r["behandlingsnummer"] for r in received(night)[before:]}
    assert resent == set(sorted(others)[:3]), "a unit SPOR production accepted must keep sending"
    text = summary_text(night, "spor_resend", upgraded.run_id)
    warned = [line for line in text.splitlines() if "counts as approved for production" in line]
    assert len(warned) == len(plain) - 1 and not any(f"unit {unit} " in line for line in warned), text


def test_spor_units_cli_lists_units_approval_and_last_nights(night, tmp_path):
    """`spor units --json` in a subprocess: every unit with its SystemId, its approval per
    environment and when it was last sent and accepted (from the ledger); logs go to stderr."""
    import os
    import subprocess
    import sys

    unit = largest_unit(night)
    plain = dict(night.env.units)
    night.env.units = {u: (s if u == unit else {"system_id": s, "approved": APPROVED}) for u, s in plain.items()}
    with environment(night_settings(night, WINTER_NIGHT, spor_extra=PRODUCTION)):
        run = load_dag("spor_nightly").test(logical_date=None)
    assert run.state == "success"
    units_file = tmp_path / "units.json"
    units_file.write_text(json.dumps(night.env.units), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "spor", "units", "--units", str(units_file), "--state",
                           f"sqlite:///{night.env.state_db}", "--json"],
                          capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert done.returncode == 0, done.stderr[-2000:]
    listed = {u["unit"]: u for u in json.loads(done.stdout)}
    assert set(listed) == set(plain)
    assert {u: listed[u]["system_id"] for u in listed} == plain
    mine = listed[unit]["environments"]
    assert mine["production"]["approved"] == "no" and mine["production"]["last_sent"] is None
    assert mine["stage"]["approved"] == "not needed"
    other = next(u for u in plain if u != unit)
    prod = listed[other]["environments"]["production"]
    assert prod["approved"] == "recorded" and prod["approved_date"] == "2026-01-15"
    assert prod["reference"] == "UCR ärende 4711"
    assert prod["last_sent"] and prod["last_accepted"] and prod["last_accepted_run_id"] == run.run_id
