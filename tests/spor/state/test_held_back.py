"""The held-back list takes held-back states (and warned) only."""

from __future__ import annotations

import pytest

from spor.lifecycle import State
from spor.state import held_back, run_summary
from spor.verdicts import WARNED, HeldBackItem


def test_held_back_items_need_a_held_back_state(state_db):
    held_back.record(state_db, "r1", [HeldBackItem("1001", State.QUARANTINED, rule="D5", reason="code not in list"),
                                      HeldBackItem("1002", State.NOT_BUILDABLE, rule="R9", variable="V415"),
                                      HeldBackItem("1003", WARNED, rule="D21")])
    with pytest.raises(ValueError):
        held_back.record(state_db, "r1", [HeldBackItem("1004", State.CREATED)])
    c = run_summary.counts(state_db, "r1")
    assert (c.by_state["quarantined"], c.by_state["not_buildable"], c.by_state[WARNED]) == (1, 1, 1)


def test_numbers_in_run_are_those_held_back_in_the_given_states(state_db):
    held_back.record(state_db, "r1", [HeldBackItem("1001", State.QUARANTINED, rule="D5"),
                                      HeldBackItem("1002", State.IDENTITY_UNKNOWN, rule="R6"),
                                      HeldBackItem("1003", WARNED, rule="D21")])
    held_back.record(state_db, "r2", [HeldBackItem("2001", State.QUARANTINED, rule="D5")])
    wanted = [State.QUARANTINED.value, State.IDENTITY_UNKNOWN.value]
    assert held_back.numbers_in_run(state_db, "r1", wanted) == {"1001", "1002"}
    assert held_back.numbers_in_run(state_db, "r3", wanted) == set()
