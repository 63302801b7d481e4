"""Held back for configuration: kept by number between runs, re-read until released or given up;
the upgrade rule reads accepted answers per SystemId from the ledger; the summary groups per unit."""

from __future__ import annotations

from spor.registration.approval import approvals, unit_statuses
from spor.registration.units import UnitMapping
from spor.state import held_configuration as hc
from spor.state import outbox
from spor.state.summary import held_for_configuration, render_text
from tests.spor.state_fixtures import regs, send_all

UNITS = UnitMapping({"OP-A": {"system_id": "SE2321000032-1001",
                              "approved": {"production": {"date": "2026-02-01", "reference": "UCR 12"}}},
                     "OP-B": "SE2321000032-2002", "OP-C": "SE2321000032-3003"})


def test_held_treatments_are_due_every_night_until_released_and_given_up_after_the_bounded_time(state_db, clock):
    hc.hold(state_db, "stage", "n1", [hc.Held("1001", hc.UNIT_MAPPING, "OP-X"), hc.Held("1002", hc.UNIT_MAPPING, "OP-X"),
                                      hc.Held("1003", hc.NOT_APPROVED, "OP-B", "SE2321000032-2002")])
    assert hc.due(state_db, "stage", "n2", days=30) == ["1001", "1002", "1003"]
    assert hc.due(state_db, "production", "n2", days=30) == []  # per environment
    hc.release(state_db, "stage", ["1001"])  # built and staged by night 2
    hc.hold(state_db, "stage", "n2", [hc.Held("1003", hc.NOT_APPROVED, "OP-B", "SE2321000032-2002")])
    assert hc.forget_unseen(state_db, "stage", "n2") == 1  # 1002: gone from the OPS or blocked
    assert [h.behandlingsnummer for h in hc.held_by_run(state_db, "stage", "n2")] == ["1003"]
    clock.advance(days=31)
    assert hc.due(state_db, "stage", "n3", days=30) == []
    assert [h.behandlingsnummer for h in hc.given_up(state_db, "stage")] == ["1003"]
    section = held_for_configuration(state_db, "stage", "n3", 30)
    assert section["given_up"]["count"] == 1 and "spor_resend" in section["given_up"]["resend"]
    # held again (a resend): the bounded time starts anew
    hc.hold(state_db, "stage", "r1", [hc.Held("1003", hc.NOT_APPROVED, "OP-B", "SE2321000032-2002")])
    assert hc.due(state_db, "stage", "n4", days=30) == ["1003"] and not hc.given_up(state_db, "stage")


def test_summary_shows_one_line_per_unit_and_cause_with_the_action(state_db):
    hc.hold(state_db, "production", "n1", [hc.Held(str(n), hc.NOT_APPROVED, "OP-B", "SE2321000032-2002")
                                           for n in range(1000, 1040)]
            + [hc.Held("2001", hc.UNIT_MAPPING, "OP-X")])
    summary = {"dag_id": "spor_nightly", "run_id": "n1", "mode": "nightly", "by_state": {},
               "held_configuration": held_for_configuration(state_db, "production", "n1", 30)}
    lines = render_text(summary).splitlines()
    assert len([line for line in lines if "not approved for production" in line]) == 1
    assert len([line for line in lines if "OP-X" in line and "add the unit to spor_units" in line]) == 1
    assert any("held back for configuration: 41" in line for line in lines)


def test_production_needs_approval_the_ledger_counts_as_approved_stage_needs_none(state_db):
    outbox.stage(state_db, "n0", "production", regs("5001"))  # sent as SE2321000032-1001, OP-A's SystemId
    send_all(state_db, "n0", "production")
    check = approvals(UNITS, "production", state_db)
    assert check.allows("OP-A")                      # recorded in spor_units
    assert check.by_ledger == frozenset()            # OP-A's approval is recorded: no warning
    assert not check.allows("OP-B") and not check.allows("OP-C") and not check.allows(None)
    units = UnitMapping({"OP-A": "SE2321000032-1001", "OP-B": "SE2321000032-2002"})  # plain form: an upgraded site
    upgraded = approvals(units, "production", state_db)
    assert upgraded.allows("OP-A") and upgraded.by_ledger == {"OP-A"} and not upgraded.allows("OP-B")
    assert "record UCR's approval in spor_units" in upgraded.warnings(units)[0]
    assert approvals(units, "stage", state_db).allows("OP-B")
    listed = {s.unit: s.environments for s in unit_statuses(units, state_db, ("production", "stage"))}
    assert listed["OP-A"]["production"]["approved"] == "ledger" and listed["OP-A"]["production"]["last_accepted"]
    assert listed["OP-B"]["production"] == {"approved": "no", "approved_date": None, "reference": None,
                                            "last_sent": None, "last_accepted": None, "last_accepted_run_id": None}
    assert listed["OP-B"]["stage"]["approved"] == "not needed"
