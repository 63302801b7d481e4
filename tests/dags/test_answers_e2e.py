"""SPOR's OK answers as the guide means them, end to end (R17): the nightly against a stand-in that
answers OK with texts the guide gives only as examples, or with none of them. Every OK is
accepted and the night is green; an OK naming another behandlingsnummer stops the run."""

from __future__ import annotations

import pytest

from tests.dags.nightly_support import environment, load_dag, night_settings, received, start_night

WINTER_NIGHT = "2025-12-01T01:00:00+01:00"


def _summary(night, run_id):
    from spor.state import database, run_summary

    db = database.connect(f"sqlite:///{night.env.state_db}", upgrade=False)
    try:
        return run_summary.load(db, "spor_nightly", run_id)
    finally:
        db.dispose()


@pytest.mark.parametrize(("ok_text", "kind", "noted"), [
    ("Skapade {nr}", "created", False),
    ("Uppdaterade: {nr}.", "updated", False),
    ("OK", "created", True),
    ("Registreringen mottagen", "created", True),
])
def test_r17_every_ok_text_is_accepted_and_the_night_is_green(tmp_path, standin_pki, airflow_db, ok_text, kind, noted):
    night = start_night(tmp_path, standin_pki, n=40, seed=5, ok_text=ok_text)
    try:
        with environment(night_settings(night, WINTER_NIGHT)):
            run = load_dag("spor_nightly").test(logical_date=None)
        index = received(night)
    finally:
        night.standin.stop()
    assert run.state == "success", run.state
    summary = _summary(night, run.run_id)
    accepted = summary["by_state"]["created"] + summary["by_state"]["updated"]
    assert index and accepted == len({r["behandlingsnummer"] for r in index}) == len(index)
    # the text says updated, or the ledger says created (first time in this environment)
    assert summary["by_state"][kind] == accepted
    assert summary["by_state"]["rejected"] == summary["by_state"]["malformed"] == summary["by_state"]["waiting"] == 0
    notes = [n for n in summary["notes"] if "text other than the guide's" in n]
    if noted:
        assert len(notes) == 1 and f"'{ok_text}' ({len(index)})" in notes[0], summary["notes"]
    else:
        assert notes == [], notes


def test_r17_an_ok_naming_another_behandlingsnummer_stops_the_run(tmp_path, standin_pki, airflow_db):
    night = start_night(tmp_path, standin_pki, n=40, seed=5, ok_text="Skapade: 9999999")
    try:
        with environment(night_settings(night, WINTER_NIGHT)):
            run = load_dag("spor_nightly").test(logical_date=None)
        index = received(night)
    finally:
        night.standin.stop()
    assert run.state == "failed", run.state
    summary = _summary(night, run.run_id)
    assert any("AnswerError" in s and "9999999" in s and "mixed up" in s for s in summary["stops"]), summary["stops"]
    assert summary["by_state"]["created"] == summary["by_state"]["updated"] == 0
    assert summary["by_state"]["waiting"] > 0 and len(index) < 40, "the run went on sending after a mixed-up answer"
