"""R4 per unit: what makes a unit ready to ask UCR for production (spor.quality.unit_approval)."""

from __future__ import annotations

from spor.quality.unit_approval import NIGHTS_FOR_APPROVAL, UnitNight, readiness, unit_nights

ALL_TRIGGERS = ["310", "540", "800"]


def _night(run: str, *, sent: int = 10, rejected: int = 0, malformed: int = 0, triggers=ALL_TRIGGERS) -> UnitNight:
    answers = {"created": sent - rejected - malformed}
    answers.update({k: v for k, v in (("rejected", rejected), ("malformed", malformed)) if v})
    return UnitNight(enhet="OP1", run_id=run, system_ids=["SE1"], checked=sent, sent=sent, answers=answers,
                     triggers_carried=list(triggers))


def test_r4_three_clean_nights_in_a_row_with_every_trigger_make_a_unit_ready():
    verdict = readiness([_night("r3"), _night("r2"), _night("r1")])
    assert NIGHTS_FOR_APPROVAL == 3
    assert verdict.ready and verdict.clean_nights == 3
    assert verdict.sentence().startswith("Ready to ask UCR for production")


def test_r4_a_rejection_in_the_latest_night_starts_the_count_again():
    verdict = readiness([_night("r4", rejected=2), _night("r3"), _night("r2"), _night("r1")])
    assert not verdict.ready and verdict.clean_nights == 0
    assert "run r4 had 2 rejected" in verdict.sentence()


def test_r4_an_older_malformed_answer_does_not_count_once_three_clean_nights_follow():
    assert readiness([_night("r4"), _night("r3"), _night("r2"), _night("r1", malformed=1)]).ready
    verdict = readiness([_night("r3"), _night("r2"), _night("r1", malformed=1)])
    assert not verdict.ready and "2 of 3 stage nights" in verdict.sentence() and "1 malformed" in verdict.sentence()


def test_r4_nights_in_which_the_unit_sent_nothing_neither_count_nor_break_the_row():
    quiet = _night("quiet", sent=0)
    assert readiness([_night("r3"), quiet, _night("r2"), quiet, _night("r1")]).ready
    verdict = readiness([quiet, quiet])
    assert not verdict.ready and "nothing of this unit has been sent" in verdict.sentence()


def test_r4_a_trigger_variable_no_registration_carried_keeps_the_unit_waiting():
    verdict = readiness([_night("r3", triggers=["310"]), _night("r2", triggers=["310", "540"]), _night("r1", triggers=["310"])])
    assert not verdict.ready and verdict.clean_nights == 3
    assert "V800 patient out of postop" in verdict.sentence() and "V540" not in verdict.sentence()


def test_unit_nights_split_answers_held_back_and_gate_verdicts_per_unit():
    by_unit = {
        "OP1": {"numbers": ["1", "2", "3"], "coverage": [{"number": "310", "carried": 3}, {"number": "540", "carried": 0}]},
        "OP2": {"numbers": ["4"], "coverage": [{"number": "800", "carried": 1}]},
    }
    verdicts = [("2", "R9", "warn", "x"), ("3", "D15", "reject", "y")]
    answers = {"1": ("SE1", "created"), "2": ("SE1", "updated"), "4": ("SE2", "rejected")}
    nights = {n.enhet: n for n in unit_nights("run", by_unit, verdicts, answers, {"3": "quarantined"})}
    op1, op2 = nights["OP1"], nights["OP2"]
    assert (op1.checked, op1.sent, op1.answers, op1.held_back) == (3, 2, {"created": 1, "updated": 1}, {"quarantined": 1})
    assert op1.gate_by_rule == {"D15 (reject)": 1, "R9 (warn)": 1} and op1.triggers_carried == ["310"]
    assert op1.system_ids == ["SE1"] and op2.system_ids == ["SE2"] and op2.not_accepted == 1
    assert UnitNight.from_dict(op1.to_dict()) == op1
