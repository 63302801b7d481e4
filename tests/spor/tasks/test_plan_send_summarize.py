"""plan_batches, send_batch, summarize and raise_removal_requests on one night against the
stand-in over mutual TLS: the batches the run plans, the XCom the window sensor reads, what SPOR
received, the summary's counts, and a night that failed saying so."""

from __future__ import annotations

from datetime import timedelta

import pytest
from airflow.sdk.exceptions import AirflowFailException

from spor.lifecycle import State, WaitReason
from spor.state import outbox, runlog
from spor.tasks import ids
from spor.tasks.build_and_stage import build_and_stage
from spor.tasks.extract import extract_changed
from spor.tasks.plan_batches import plan_batches
from spor.tasks.raise_removal_requests import raise_removal_requests
from spor.tasks.runinfo import NIGHTLY, RESEND
from spor.tasks.send_batch import send_batch
from spor.tasks.summarize import summarize
from standin.recorder import read_index
from tests.metrics_support import record_metrics
from tests.spor.tasks.factory import Night, make_run, settings, spor_connection


@pytest.fixture
def staged_night(db, ops, clock):
    return Night(make_run(), db, ops, clock, settings()), ops


@pytest.fixture
def standin(standin_factory, ops):
    """A stand-in that knows the generated units' SystemIds."""
    return standin_factory(system_ids=frozenset(ops.units.as_dict().values()))


def _stage(night: Night) -> dict:
    extracted = night.call(extract_changed)
    night.ti.task_id = ids.EXTRACT
    night.ti.xcom_push("return_value", extracted)
    return night.call(build_and_stage, extracted, {})


def test_plan_hands_out_at_most_batches_per_run_and_tells_the_sensor_when(staged_night):
    night, _ = staged_night
    staged = _stage(night)
    batches = night.call(plan_batches, staged)
    assert 1 <= len(batches) <= night.settings.batches_per_run
    assert [b["batch"] for b in batches] == list(range(1, len(batches) + 1))
    opens = night.ti.xcom_pull(task_ids=ids.PLAN_BATCHES, key=ids.XCOM_WINDOW_OPENS_AT)
    assert opens is not None  # the window is open at 01:00: the sensor lets the sends start now
    (capacity,) = runlog.events(night.db, night.run.run_id, runlog.CAPACITY)
    assert capacity.data["outbox_size"] == staged["staged"]


def test_plan_after_the_deadline_plans_nothing_and_leaves_everything_waiting(staged_night):
    night, _ = staged_night
    staged = _stage(night)
    night.run = make_run(mode=NIGHTLY, run_after=night.clock.now())
    night.clock.advance(hours=4, minutes=10)  # 05:10: the night's 05:00 has passed
    assert night.call(plan_batches, staged) == []
    assert outbox.size(night.db, "stage") == staged["staged"]
    assert {e.message for e in runlog.events(night.db, night.run.run_id, runlog.INFO)} == {
        f"nothing sent: the sending window had closed ({WaitReason.DEADLINE.value}) when batches were planned"}


def test_a_dry_run_plans_nothing(staged_night):
    night, _ = staged_night
    night.run = make_run(params={"dry_run": True})
    assert night.call(plan_batches, {"staged": 0}) == []
    assert night.ti.xcom_pull(task_ids=ids.PLAN_BATCHES, key=ids.XCOM_WINDOW_OPENS_AT) is not None


def test_a_night_sent_summarized_and_green(staged_night, standin, standin_pki, monkeypatch):
    night, ops = staged_night
    spor_connection(monkeypatch, standin.url, standin_pki)
    staged = _stage(night)
    context: dict = {}
    sent = [night.call(send_batch, batch, context=context) for batch in night.call(plan_batches, staged)]
    assert context["batch_label"] == f"batch {len(sent)}"
    accepted = sum(r["by_state"].get(State.CREATED.value, 0) for r in sent)
    received = read_index(standin.received.dir)
    assert accepted == staged["staged"] == len(received) and outbox.size(night.db) == 0
    removals = night.call(raise_removal_requests)
    assert removals["raised"] == 0
    by_state = night.call(summarize)
    assert by_state[State.CREATED.value] == accepted
    assert by_state[State.NOT_BUILDABLE.value] + by_state.get(State.IDENTITY_UNKNOWN.value, 0) > 0


def outbox_size(db) -> int:
    from spor.state import outbox

    return outbox.size(db)


def test_a_batch_of_a_stopped_run_sends_nothing(staged_night, standin, standin_pki, monkeypatch):
    night, _ = staged_night
    spor_connection(monkeypatch, standin.url, standin_pki)
    (first, *_) = night.call(plan_batches, _stage(night))
    runlog.add(night.db, night.run.run_id, ids.SEND_BATCH, runlog.STOP, "certificate refused")
    assert night.call(send_batch, first, context={}) == {"batch": 1, "skipped": "run stopped"}
    assert read_index(standin.received.dir) == []
    # its rows go back to the outbox: they wait, and every view counts them (spor.state.waiting)
    from spor.state import batches, waiting

    assert batches.info(night.db, first["batch_id"]).remaining == 0
    found = waiting.resolve(night.db, "stage")   # the other batch is not done yet: being sent
    assert found.total > 0 and found.total + found.being_sent == outbox_size(night.db)


def test_summarize_gives_back_what_a_stopped_runs_batches_hold(staged_night):
    """A stopped run's send tasks never ran (upstream failed): summarize finishes its batches, so
    what they held counts as waiting, in the summary and in "night not done" alike."""
    from spor.state import run_summary

    night, _ = staged_night
    staged = _stage(night)
    night.call(plan_batches, staged)
    runlog.add(night.db, night.run.run_id, ids.SEND_BATCH, runlog.STOP, "CertificateError: refused")
    with pytest.raises(AirflowFailException):
        night.call(summarize, run_finished=lambda dag_id, run_id: False)  # Airflow: the run still runs
    kept = run_summary.load(night.db, night.run.dag_id, night.run.run_id)
    assert kept["waiting"]["total"] == kept["night_not_done"]["waiting"] == staged["staged"] == outbox_size(night.db)


def test_summarize_fails_a_run_with_work_left_and_says_why(staged_night, monkeypatch):
    recorder = record_metrics(monkeypatch)
    night, _ = staged_night
    staged = _stage(night)
    night.call(plan_batches, staged)  # planned, never sent: the night is not done
    with pytest.raises(AirflowFailException, match=r"night not done: \d+ registration\(s\) of stage wait in the outbox \(\d+ new\)"):
        night.call(summarize, run_finished=lambda dag_id, run_id: True)
    assert {stat: value for _, stat, value, _ in recorder.calls} == {  # docs/metrics.md: every reason, zeros too
        "spor.outbox_waiting.stage.new": staged["staged"], "spor.outbox_waiting.stage.deadline": 0,
        "spor.outbox_waiting.stage.blackout": 0, "spor.outbox_waiting.stage.transient": 0}


def test_summarize_without_an_environment_reports_the_failed_check(staged_night):
    night, _ = staged_night
    runlog.add(night.db, night.run.run_id, ids.CHECK_CERTIFICATE, runlog.FAILURE, "ConfigurationError")
    with pytest.raises(AirflowFailException, match="check_certificate"):
        night.call(summarize, known_environment=None)


def test_a_dry_run_raises_no_removal_request(staged_night):
    night, _ = staged_night
    night.run = make_run(params={"dry_run": True})
    assert night.call(raise_removal_requests) == {"skipped": "dry run"}
    assert night.clock.now() - night.run.run_after < timedelta(hours=1)


def test_a_resend_leaves_the_nights_rows_to_the_nightly_and_is_not_failed_for_them(staged_night):
    """The nightly first: rows a night staged are not a resend's to send, so they do not make the
    resend "not done"; its summary still counts them as waiting. The nightly's own run fails for them."""
    from spor.state import run_summary

    night, _ = staged_night
    staged = _stage(night)  # staged by a spor_nightly run triggered by hand: the night's priority
    night.run = make_run("manual__resend", dag_id="spor_resend", mode=RESEND)
    night.call(summarize, run_finished=lambda dag_id, run_id: True)
    kept = run_summary.load(night.db, "spor_resend", "manual__resend")
    assert kept["waiting"]["total"] == staged["staged"] > 0 and "night_not_done" not in kept
    night.run = make_run("manual__2")
    with pytest.raises(AirflowFailException):
        night.call(summarize, run_finished=lambda dag_id, run_id: True)
    assert run_summary.load(night.db, "spor_nightly", "manual__2")["night_not_done"]["waiting"] == staged["staged"]
