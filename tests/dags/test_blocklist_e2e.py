"""R11 end to end: the opt-out block list (spor_sparrlista) is read first at extraction and again
just before each batch is sent; a block added between staging and sending keeps the registration
off the wire, and a block list that cannot be read stops everything (fail closed).

spor_nightly with dag.test() against the stand-in over mutual TLS. The first night is sent at
05:00:00 sharp (planned at 04:59:59): the deadline has come, nothing is sent and everything waits
in the outbox, staged. Blocks are then added to the OPS database by hand, as the ward would.
"""

from __future__ import annotations

import sqlite3

import pytest

from tests.dags.nightly_support import ClockScript, environment, held_back, load_dag, outbox, received, scripted_settings, start_night


def stage_only() -> ClockScript:
    return ClockScript("2026-01-15T04:59:59+01:00", "2026-01-15T05:00:00+01:00", speed=5)


def next_night() -> ClockScript:
    return ClockScript("2026-01-16T01:00:00+01:00", speed=5)


@pytest.fixture
def night(tmp_path, standin_pki, airflow_db):
    night = start_night(tmp_path, standin_pki, n=80, seed=31)
    yield night
    night.standin.stop()


def run(night, script: ClockScript):
    dag = script.attach(load_dag("spor_nightly"))
    with environment(scripted_settings(night, script)):
        return dag.test()


def stage_everything(night) -> dict[str, str]:
    dr = run(night, stage_only())
    assert dr.state == "failed", dr.state  # everything waits (deadline): the night is not done, not green
    waiting = outbox(night)
    assert waiting and set(waiting.values()) == {"deadline"} and received(night) == []
    return waiting


def ops(night) -> sqlite3.Connection:
    return sqlite3.connect(night.env.ops_db)


def person_of(night, behandlingsnummer: str) -> str:
    with ops(night) as conn:
        return conn.execute("SELECT personnummer FROM spor_behandling WHERE behandlingsnummer = ?",
                            (behandlingsnummer,)).fetchone()[0]


def block(night, *, personnummer: str, behandlingsnummer: str | None) -> None:
    with ops(night) as conn:
        conn.execute("INSERT INTO spor_sparrlista (personnummer, behandlingsnummer, orsak, kanal, datum) "
                     "VALUES (?, ?, 'patientens begäran', 'telefon', '2026-01-15')",
                     (personnummer, behandlingsnummer))


def run_events(night, run_id: str) -> list[tuple[str, str, str]]:
    with sqlite3.connect(night.env.state_db) as conn:
        return list(conn.execute("SELECT task, kind, message FROM spor_run_event WHERE run_id = ?", (run_id,)))


def test_r11_block_added_after_staging_keeps_the_registration_off_the_wire(night):
    """R11: one treatment blocked by its number, one patient blocked as a whole, both after their
    registrations were staged. The next night sends everything else; the blocked ones are
    withdrawn (out of the outbox, payload gone) and SPOR never receives them."""
    waiting = stage_everything(night)
    by_number, by_patient = sorted(waiting)[:2]
    block(night, personnummer=person_of(night, by_number), behandlingsnummer=by_number)
    patient = person_of(night, by_patient)
    block(night, personnummer=patient, behandlingsnummer=None)
    with ops(night) as conn:
        of_patient = {r[0] for r in conn.execute(
            "SELECT behandlingsnummer FROM spor_behandling WHERE personnummer = ?", (patient,))}
    expected_out = {by_number} | (of_patient & set(waiting))

    dr = run(night, next_night())
    assert dr.state == "success", dr.state
    sent = {r["behandlingsnummer"] for r in received(night)}
    assert sent.isdisjoint(expected_out), "a registration blocked after staging reached SPOR (R11)"
    assert sent == set(waiting) - expected_out
    assert outbox(night) == {}
    withdrawn = {b for b, s in held_back(night, dr.run_id).items() if s == "withdrawn"}
    assert withdrawn == expected_out


def test_r11_block_list_unreadable_just_before_sending_sends_nothing_and_names_the_block_list(night):
    """R11 fail closed at the re-read: the block list is readable at extraction, then cannot be
    read when the batch is about to be sent (the table is renamed while the batches are planned).
    Nothing reaches SPOR, the registrations stay waiting, the run fails, and the send task's
    record names spor_sparrlista."""
    def move_block_list(context) -> None:
        with ops(night) as conn:
            conn.execute("ALTER TABLE spor_sparrlista RENAME TO spor_sparrlista_moved")

    script = next_night()
    dag = script.attach(load_dag("spor_nightly"))
    dag.task_dict["plan_batches"].on_execute_callback = [move_block_list]
    with environment(scripted_settings(night, script)):
        dr = dag.test()
    assert dr.state == "failed", dr.state
    assert received(night) == []
    waiting = outbox(night)
    assert waiting and set(waiting.values()) == {"new"}, "registrations were lost instead of left waiting"
    failures = [(task, msg) for task, kind, msg in run_events(night, dr.run_id) if kind in ("failure", "stop")]
    assert any(task == "send_batch" and "spor_sparrlista" in msg for task, msg in failures), failures


def test_r11_unreadable_block_list_at_extraction_sends_nothing(night):
    """R11 fail closed at the first read: with the block list gone nothing is extracted, staged or
    sent, and the run fails with a message naming spor_sparrlista."""
    with ops(night) as conn:
        conn.execute("DROP TABLE spor_sparrlista")
    dr = run(night, ClockScript("2026-01-15T01:00:00+01:00", speed=5))
    assert dr.state == "failed", dr.state
    assert received(night) == []
    assert outbox(night) == {}
    failures = [(task, msg) for task, kind, msg in run_events(night, dr.run_id) if kind in ("failure", "stop")]
    assert any(task == "extract" and "spor_sparrlista" in msg for task, msg in failures), failures
