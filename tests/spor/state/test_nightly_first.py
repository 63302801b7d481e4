"""The nightly first: rows are staged with their run type's priority (nightly above resend above
backfill), each run plans its own rows before anybody else's, backfill and resend send tasks may
have a pool of their own, and the capacity estimate counts (and names) what other runs hold."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

import pytest

from spor.clock import STOCKHOLM
from spor.send.capacity import estimate_from_db
from spor.send.windows import SendingWindow
from spor.state import batches, outbox
from spor.state.probes import PROBE_PRIORITY
from spor.tasks.runinfo import (
    BACKFILL,
    MANUAL,
    NIGHTLY,
    RESEND,
    STAGING_PRIORITY,
    RunInfo,
    is_catch_up,
    mode_of,
    send_pool,
)
from tests.spor.state_fixtures import regs

START = datetime(2025, 3, 3, 1, 0, tzinfo=STOCKHOLM)
NIGHT_WINDOW = SendingWindow.for_run(has_deadline=True, started_at=START)
BACKFILL_RUN = "backfill__2025-03-01T23:30:00+00:00"


def _run(mode: str) -> RunInfo:
    return RunInfo(dag_id="spor_resend" if mode == RESEND else "spor_nightly", run_id=f"{mode}-1", mode=mode,
                   logical_date=None, run_after=START)


def test_priority_by_run_type_nightly_above_resend_above_backfill():
    nightly, manual, resend, backfill = (_run(m).priority for m in (NIGHTLY, MANUAL, RESEND, BACKFILL))
    assert nightly == manual > resend > backfill
    # Rows staged before priorities existed (column default 0) count as the night's.
    assert nightly == 0 and set(STAGING_PRIORITY) == {NIGHTLY, MANUAL, RESEND, BACKFILL}


def test_mode_and_catch_up_from_the_ids_alone():
    assert mode_of("spor_nightly", "backfill") == BACKFILL and mode_of("spor_resend", "manual") == RESEND
    assert is_catch_up("spor_nightly", BACKFILL_RUN) and is_catch_up("spor_resend", "manual__x")
    assert not is_catch_up("spor_nightly", "scheduled__2025-03-02T23:30:00+00:00")
    assert not is_catch_up("spor_nightly", "manual__2025-03-03")


def test_a_nightly_started_during_a_backfill_plans_its_own_rows_first(state_db, clock):
    """The backfill staged long before (older rows) and left some unplanned: the nightly's own
    fresh rows still fill its first batches."""
    outbox.stage(state_db, BACKFILL_RUN, "stage", regs(*(f"9{i:02}" for i in range(6))),
                 priority=STAGING_PRIORITY[BACKFILL])
    clock.advance(hours=3)
    outbox.stage(state_db, "scheduled__n", "stage", regs("100", "101", "102", "103"),
                 priority=STAGING_PRIORITY[NIGHTLY])
    first, second, *rest = batches.plan(state_db, "scheduled__n", "stage", 4, 3, priority=STAGING_PRIORITY[NIGHTLY])
    assert [r.behandlingsnummer for r in batches.owned_rows(state_db, first)] == ["100", "101", "102", "103"]
    assert [r.behandlingsnummer for r in batches.owned_rows(state_db, second)] == ["900", "901", "902", "903"]


def test_a_backfill_plans_its_own_rows_and_leaves_a_resends_to_the_resend(state_db, clock):
    """Own rows first, and never another run's rows staged above its own priority: the resend's
    rows stay unplanned for a run of their kind (or the nightly)."""
    outbox.stage(state_db, "manual__resend", "stage", regs("500", "501"), priority=STAGING_PRIORITY[RESEND])
    outbox.stage(state_db, BACKFILL_RUN, "stage", regs("900", "901"), priority=STAGING_PRIORITY[BACKFILL])
    (first,) = batches.plan(state_db, BACKFILL_RUN, "stage", 2, 2, priority=STAGING_PRIORITY[BACKFILL])
    assert [r.behandlingsnummer for r in batches.owned_rows(state_db, first)] == ["900", "901"]
    assert batches.unplanned(state_db, "stage", BACKFILL_RUN, STAGING_PRIORITY[BACKFILL]) == 0
    assert batches.unplanned(state_db, "stage") == 2
    (resend,) = batches.plan(state_db, "manual__resend2", "stage", 5, 2, priority=STAGING_PRIORITY[RESEND])
    assert [r.behandlingsnummer for r in batches.owned_rows(state_db, resend)] == ["500", "501"]


def test_a_backfill_day_planning_after_the_nightly_staged_leaves_the_night_alone(state_db, clock):
    """The priority inversion a paced backfill hit: day 2 of the backfill plans after tonight's
    nightly staged but before it planned. The backfill takes its own day and older backfill
    leftovers, never the night; the nightly then plans all of its own."""
    outbox.stage(state_db, "backfill__day1", "stage", regs("800"), priority=STAGING_PRIORITY[BACKFILL])
    clock.advance(hours=1)
    outbox.stage(state_db, "scheduled__n", "stage", regs("100", "101", "102"), priority=STAGING_PRIORITY[NIGHTLY])
    outbox.stage(state_db, BACKFILL_RUN, "stage", regs("900"), priority=STAGING_PRIORITY[BACKFILL])
    ids = batches.plan(state_db, BACKFILL_RUN, "stage", 1, 10, priority=STAGING_PRIORITY[BACKFILL])
    assert sorted(r.behandlingsnummer for b in ids for r in batches.owned_rows(state_db, b)) == ["800", "900"]
    (night,) = batches.plan(state_db, "scheduled__n", "stage", 10, 1, priority=STAGING_PRIORITY[NIGHTLY])
    assert [r.behandlingsnummer for r in batches.owned_rows(state_db, night)] == ["100", "101", "102"]


def test_the_nightly_takes_a_probe_an_earlier_night_left_a_backfill_does_not(state_db, clock):
    """A probe is the night's (staged above every run type): the next night sends it, a backfill leaves it."""
    outbox.stage(state_db, "scheduled__n1", "stage", regs("700"), priority=PROBE_PRIORITY)
    assert batches.plan(state_db, BACKFILL_RUN, "stage", 10, 1, priority=STAGING_PRIORITY[BACKFILL]) == []
    (night,) = batches.plan(state_db, "scheduled__n2", "stage", 10, 1, priority=STAGING_PRIORITY[NIGHTLY])
    assert [r.behandlingsnummer for r in batches.owned_rows(state_db, night)] == ["700"]


def test_what_the_last_night_left_still_goes_before_tonights_rows(state_db, clock):
    """The nightly's own kind: the deadline's leftovers (same priority, older) go first."""
    outbox.stage(state_db, "scheduled__n1", "stage", regs("900"))
    clock.advance(days=1)
    outbox.stage(state_db, "scheduled__n2", "stage", regs("100"))
    (bid,) = batches.plan(state_db, "scheduled__n2", "stage", 10, 1)
    assert [r.behandlingsnummer for r in batches.owned_rows(state_db, bid)] == ["900", "100"]


def test_restaging_keeps_the_higher_priority(state_db):
    """A backfill staging what the nightly already staged does not push it back."""
    outbox.stage(state_db, "scheduled__n", "stage", regs("100"), priority=STAGING_PRIORITY[NIGHTLY])
    outbox.stage(state_db, BACKFILL_RUN, "stage", regs("100", content="v2"), priority=STAGING_PRIORITY[BACKFILL])
    outbox.stage(state_db, BACKFILL_RUN, "stage", regs("200"), priority=STAGING_PRIORITY[BACKFILL])
    (bid,) = batches.plan(state_db, "other", "stage", 10, 1)
    assert [r.behandlingsnummer for r in batches.owned_rows(state_db, bid)] == ["100", "200"]


def _backfill_holding(state_db, n: int) -> None:
    outbox.stage(state_db, BACKFILL_RUN, "stage", regs(*(f"9{i:05}" for i in range(n))),
                 priority=STAGING_PRIORITY[BACKFILL])
    batches.plan(state_db, BACKFILL_RUN, "stage", n, 1, dag_id="spor_nightly")


def test_capacity_counts_a_backfill_in_the_same_pool_and_names_it(state_db):
    _backfill_holding(state_db, 300)
    outbox.stage(state_db, "scheduled__n", "stage", regs(*(f"1{i:03}" for i in range(100))))
    now = datetime(2025, 3, 3, 4, 59, 0, tzinfo=STOCKHOLM)  # 55 s left before the margin
    est = estimate_from_db(state_db, "stage", pool_slots=1, threads_per_task=1, now=now, window=NIGHT_WINDOW,
                           default_latency_s=0.5, efficiency=1.0, dag_id="spor_nightly", run_id="scheduled__n",
                           pool_of=lambda dag_id, run_id: "spor")
    assert est.outbox_size == 100 and est.held_by_other_runs == 300 and est.other_runs == [BACKFILL_RUN]
    assert not est.fits and est.needed_s == 200.0 and est.sendable == 0   # (100 + 300) / 2 per s
    assert f"Alone this run would fit: run {BACKFILL_RUN} holds 300 registrations in the same pool" in est.warning
    assert "[spor] backfill_pool" in est.warning


def test_capacity_names_but_does_not_count_a_backfill_in_a_pool_of_its_own(state_db):
    _backfill_holding(state_db, 300)
    outbox.stage(state_db, "scheduled__n", "stage", regs(*(f"1{i:03}" for i in range(100))))
    now = datetime(2025, 3, 3, 4, 0, tzinfo=STOCKHOLM)
    est = estimate_from_db(state_db, "stage", pool_slots=1, threads_per_task=1, now=now, window=NIGHT_WINDOW,
                           default_latency_s=0.5, efficiency=1.0, dag_id="spor_nightly", run_id="scheduled__n",
                           pool_of=lambda dag_id, run_id: "spor_backfill" if is_catch_up(dag_id, run_id) else "spor")
    assert est.fits and est.warning is None and est.needed_s == 50.0
    assert est.held_by_other_runs == 0 and est.other_runs == [BACKFILL_RUN]


@pytest.mark.parametrize(("backfill_pool", "expected"), [("", "spor"), ("spor_backfill", "spor_backfill")])
def test_send_pool_of_backfills_and_resends(monkeypatch, backfill_pool, expected):
    monkeypatch.setenv("AIRFLOW__SPOR__BACKFILL_POOL", backfill_pool)
    monkeypatch.delenv("AIRFLOW__SPOR__POOL", raising=False)
    assert send_pool() == "spor" and send_pool("spor_nightly", "scheduled__x") == "spor"
    assert send_pool("spor_nightly", BACKFILL_RUN) == expected
    assert send_pool("spor_resend", "manual__x") == expected


def test_the_cluster_policy_moves_only_backfill_send_tasks(monkeypatch):
    """The provider's ``airflow.policy`` hook, as Airflow calls it on a task instance."""
    from importlib.metadata import entry_points

    from spor import policy

    assert [e.value for e in entry_points(group="airflow.policy") if e.name == "spor"] == ["spor.policy"]
    monkeypatch.setenv("AIRFLOW__SPOR__BACKFILL_POOL", "spor_backfill")

    def ti(dag_id: str, task_id: str, run_id: str) -> SimpleNamespace:
        return SimpleNamespace(dag_id=dag_id, task_id=task_id, run_id=run_id, pool="spor")

    cases = [ti("spor_nightly", "send_batch", BACKFILL_RUN), ti("spor_nightly", "send_batch", "scheduled__x"),
             ti("spor_nightly", "extract", BACKFILL_RUN), ti("other_dag", "send_batch", BACKFILL_RUN)]
    for t in cases:
        policy.task_instance_mutation_hook(t)
    assert [t.pool for t in cases] == ["spor_backfill", "spor", "spor", "spor"]
    # Airflow loads it through pluggy against its own hook specification (3.2's has no dag_run)
    import pluggy
    from airflow import policies

    manager = pluggy.PluginManager("airflow.policy")
    manager.add_hookspecs(policies)
    manager.register(policy, name="spor")


def test_capacity_of_a_backfill_counts_only_the_rows_it_may_plan(state_db):
    outbox.stage(state_db, "scheduled__n", "stage", regs(*(f"1{i:03}" for i in range(100))))
    outbox.stage(state_db, BACKFILL_RUN, "stage", regs(*(f"9{i:03}" for i in range(30))),
                 priority=STAGING_PRIORITY[BACKFILL])
    now = datetime(2025, 3, 3, 4, 0, tzinfo=STOCKHOLM)
    est = estimate_from_db(state_db, "stage", pool_slots=1, threads_per_task=1, now=now, window=NIGHT_WINDOW,
                           default_latency_s=0.5, efficiency=1.0, dag_id="spor_nightly", run_id=BACKFILL_RUN,
                           priority=STAGING_PRIORITY[BACKFILL])
    assert est.outbox_size == 30


def test_a_resend_by_number_sends_what_the_night_left_waiting(state_db, clock):
    """Staging a waiting row again, unchanged, makes the run its stager: the resend plans it
    although the night staged it above the resend's priority; the night's other rows stay."""
    outbox.stage(state_db, "scheduled__n", "stage", regs("100", "101"), priority=STAGING_PRIORITY[NIGHTLY])
    clock.advance(hours=4)
    result = outbox.stage(state_db, "manual__resend", "stage", regs("101"), priority=STAGING_PRIORITY[RESEND])
    assert result.already_waiting == 1
    (bid,) = batches.plan(state_db, "manual__resend", "stage", 10, 1, priority=STAGING_PRIORITY[RESEND])
    assert [r.behandlingsnummer for r in batches.owned_rows(state_db, bid)] == ["101"]
    assert batches.unplanned(state_db, "stage") == 1
