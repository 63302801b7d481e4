"""SystemIds SPOR does not know yet (R17): ERROR answers classified, the night's probe planned, the
registrations behind a probe sent after it when SPOR accepts it and left for the next night when
it refuses it again; other rejections stay final; the resend's selection by SPOR's last answer."""

from __future__ import annotations

import pytest

from spor.lifecycle import State
from spor.rejections import DATA, SYSTEM_ID_UNKNOWN, action, classify
from spor.state import attempts, batches, outbox, probes, waiting
from spor.state.summary import render_text
from tests.spor.state_fixtures import FakeAnswer, FakeRegistration, created, regs, send_all, unknown_system

SID = "SE2321000032-1001"


def data_error(bn: str) -> FakeAnswer:
    return FakeAnswer(State.REJECTED, "ERROR", f"Registreringen {bn} saknar operationsdatum")


@pytest.mark.parametrize("text, kind, sid", [
    ("Systemet kunde inte ta emot registreringen: 3000001 Systemet SE13-137 som angivits i SystemId hittas inte",
     SYSTEM_ID_UNKNOWN, "SE13-137"),
    ("systemet se13-137 som angivits i systemid hittas inte.", SYSTEM_ID_UNKNOWN, "se13-137"),
    ("SystemId hittas inte", SYSTEM_ID_UNKNOWN, None),
    ("Registreringen 3000001 saknar operationsdatum", DATA, None),
    ("Behandlingsnummer hittas inte", DATA, None),
    (None, DATA, None),
])
def test_an_error_naming_an_unknown_system_id_is_the_units_configuration_not_the_data(text, kind, sid):
    found = classify(text)
    assert (found.kind, found.system_id) == (kind, sid)
    assert found.configuration == (kind == SYSTEM_ID_UNKNOWN)


def test_the_action_names_ucr_the_system_id_and_spor_units():
    said = action("SE13-137", "stage", ["OP-A"])
    assert "ask UCR to register SystemId SE13-137 for stage" in said and "check spor_units (units OP-A)" in said


def test_the_probe_is_the_lowest_refused_number_and_every_other_registration_of_the_system_id_waits_behind_it():
    plan = probes.plan({"S1": ["1003", "1001", "1002"], "S2": ["2001"], "S3": ["3001"]},
                       [("S1", "1002"), ("S1", "1003"), ("S1", "0999"),  # 0999: new tonight, not refused yet
                        ("S2", "2001"), ("S4", "4001")])
    assert plan.probes == {"S1": "1002", "S2": "2001"}  # a refused one first; S3: nothing rebuilt tonight
    assert plan.after == {"S1": ["0999", "1003"]}
    assert plan.role("S1", "1002") == "probe" and plan.role("S1", "0999") == "after"
    assert plan.role("S4", "4001") is None, "a SystemId SPOR never refused is not held behind a probe"


@pytest.mark.parametrize("answers, known", [
    ([("created", "Skapade: 1")], True),
    ([("rejected", "Registreringen saknar operationsdatum")], True),  # refused for its data: SystemId known
    ([("rejected", "Systemet S1 som angivits i SystemId hittas inte")], False),
    ([("malformed", "cvc-pattern-valid")], None),  # a schema fault comes before the SystemId is looked at
    ([], None),
])
def test_whether_spor_knows_the_system_id_from_tonights_answers(answers, known):
    assert probes.knows(answers) is known


def _refused_night(db, env: str = "stage", numbers=("1001", "1002", "1003")) -> None:
    outbox.stage(db, "n1", env, [FakeRegistration(n, system_id=SID) for n in numbers])
    send_all(db, "n1", env, answer=lambda bn: unknown_system(bn, SID))


def _stage_behind_probe(db, run_id: str, numbers=("1001", "1002", "1003")) -> None:
    """What build_and_stage stages for a refused SystemId: the probe first, the rest behind it."""
    unknown = probes.unknown_system_ids(db, "stage")
    plan = probes.plan(unknown, [(SID, n) for n in numbers])
    made = {n: FakeRegistration(n, system_id=SID) for n in numbers}
    result = outbox.stage(db, run_id, "stage", [made[n] for n in plan.probes.values()], force=True,
                          priority=probes.PROBE_PRIORITY)
    assert result.staged == 1, "a refused registration is staged again although its content did not change"
    outbox.stage(db, run_id, "stage", [made[n] for n in plan.after[SID]], force=True, wait_reason=probes.AFTER_PROBE)


def _send_planned(db, run_id: str, answer) -> tuple[list[int], list[str]]:
    planned = batches.plan(db, run_id, "stage", 100, 10)
    sent = []
    for bid in planned:
        batches.claim(db, bid)
        for reg in batches.owned_rows(db, bid):
            lid = attempts.record_attempt(db, reg, run_id=run_id, batch_id=bid)
            attempts.record_answer(db, lid, reg, answer(reg.behandlingsnummer))
            sent.append(reg.behandlingsnummer)
    return planned, sent


def test_spor_accepts_the_probe_and_the_rest_join_the_batch_the_same_night(state_db):
    _refused_night(state_db)
    assert probes.unknown_system_ids(state_db, "stage") == {SID: ["1001", "1002", "1003"]}
    assert probes.numbers(state_db, "stage") == ["1001", "1002", "1003"]
    _stage_behind_probe(state_db, "n2")
    assert waiting.resolve(state_db, "stage").total == 1, "behind a probe is not waiting"
    planned, sent = _send_planned(state_db, "n2", created)
    assert sent == ["1001"], "only the probe is planned"
    moved, outcomes = probes.follow_up(state_db, "n2", "stage", into=planned[0])
    assert moved == 2 and [(o.system_id, o.known, o.followers) for o in outcomes] == [(SID, True, 2)]
    assert sorted(r.behandlingsnummer for r in batches.owned_rows(state_db, planned[0])) == ["1002", "1003"]
    assert probes.follow_up(state_db, "n2", "stage", into=planned[0]) == (0, []), "taken once"


def test_the_probe_refused_again_the_rest_leave_the_outbox_for_the_next_night(state_db):
    _refused_night(state_db)
    _stage_behind_probe(state_db, "n2")
    planned, sent = _send_planned(state_db, "n2", lambda bn: unknown_system(bn, SID))
    assert sent == ["1001"]
    moved, outcomes = probes.follow_up(state_db, "n2", "stage", into=planned[0])
    assert moved == 0 and [(o.known, o.followers) for o in outcomes] == [(False, 2)]
    assert outbox.size(state_db, "stage") == 0
    assert probes.numbers(state_db, "stage") == ["1001", "1002", "1003"], "all re-read and probed the next night"
    section = probes.summary_section(state_db, "stage", "n2", {SID: ["OP-A"]})
    text = render_text({"dag_id": "spor_nightly", "run_id": "n2", "mode": "nightly", "by_state": {},
                        "refused_system_ids": section})
    line = [x for x in text.splitlines() if f"SystemId {SID} (unit OP-A)" in x]
    assert len(line) == 1 and "ask UCR to register" in line[0] and "probe was refused again" in line[0]


def test_a_probe_without_an_answer_leaves_the_rest_for_the_next_night(state_db):
    _refused_night(state_db)
    _stage_behind_probe(state_db, "n2")
    assert probes.follow_up(state_db, "n2", "stage", into=0) == (0, [])
    assert probes.drop_unsent(state_db, "stage") == 2
    assert outbox.size(state_db, "stage") == 1  # the probe itself waits, as any unsent registration


def test_other_rejections_stay_final_and_the_resend_selects_by_the_last_answers_text(state_db):
    outbox.stage(state_db, "n1", "stage", regs("5001", "5002"))
    send_all(state_db, "n1", "stage", answer=data_error)
    _refused_night(state_db)
    assert probes.numbers(state_db, "stage") == ["1001", "1002", "1003"], "a data rejection is not probed"
    assert outbox.stage(state_db, "n2", "stage", regs("5001")).unchanged == 1, "final until it changes"
    every = {r.behandlingsnummer for r in probes.rejected(state_db, "stage")}
    assert every == {"1001", "1002", "1003", "5001", "5002"}
    matching = {r.behandlingsnummer for r in probes.rejected(state_db, "stage", text_contains="SAKNAR operations")}
    assert matching == {"5001", "5002"}
    assert not probes.rejected(state_db, "production")
