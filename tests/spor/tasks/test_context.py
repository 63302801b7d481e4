"""The task decorator: Airflow sees only a body's XCom arguments; each keyword-only parameter is
resolved by its name when the task runs; a failing body leaves a PII-safe run event, then
re-raises; and the SPOR environment comes from check_certificate's XCom, so the tasks after it
never read the SPOR connection."""

from __future__ import annotations

import inspect

import pytest
from airflow.sdk.exceptions import AirflowFailException

from spor.errors import ConfigurationError, SystemicError
from spor.settings import Settings
from spor.state import runlog
from spor.tasks import context, ids
from spor.tasks.build_and_stage import build_and_stage
from spor.tasks.check_certificate import check_certificate
from spor.tasks.extract import extract_changed, extract_selected
from spor.tasks.plan_batches import plan_batches
from spor.tasks.quality_gate import quality_gate
from spor.tasks.raise_removal_requests import raise_removal_requests
from spor.tasks.send_batch import send_batch
from spor.tasks.summarize import summarize
from tests.spor.tasks.factory import FakeTi, airflow_context, make_run

BODIES = (check_certificate, extract_changed, extract_selected, quality_gate, build_and_stage, plan_batches,
          send_batch, raise_removal_requests, summarize)


def test_task_callables_show_only_their_xcom_arguments():
    params = {fn.__name__: list(inspect.signature(fn).parameters) for fn in BODIES}
    assert params == {"check_certificate": [], "extract_changed": [], "extract_selected": [],
                      "quality_gate": ["extracted"], "build_and_stage": ["extracted", "gate"],
                      "plan_batches": ["staged"], "send_batch": ["batch"], "raise_removal_requests": [],
                      "summarize": []}
    assert send_batch.__doc__.startswith("Sends one batch to SPOR")


def test_every_body_names_its_task_and_asks_only_for_known_inputs():
    assert {fn.task_id for fn in BODIES} == {ids.CHECK_CERTIFICATE, ids.EXTRACT, ids.QUALITY_GATE,
                                             ids.BUILD_AND_STAGE, ids.PLAN_BATCHES, ids.SEND_BATCH,
                                             ids.RAISE_REMOVAL_REQUESTS, ids.SUMMARIZE}
    for fn in BODIES:
        needs = [p.name for p in inspect.signature(fn.body).parameters.values() if p.kind is p.KEYWORD_ONLY]
        assert needs and set(needs) <= context.INPUT_NAMES, fn.__name__
        assert "hook" not in needs or fn in (check_certificate, send_batch), f"{fn.__name__} reads the SPOR connection"


def test_asking_for_an_unknown_input_fails_when_the_task_is_defined():
    with pytest.raises(TypeError, match=r"asks for \['envirnoment'\]"):
        @context.recorded("some_task")
        def body(*, envirnoment: str) -> None:  # a typo must not surface only at night
            raise AssertionError("never runs")


def _inputs(db, monkeypatch, ti: FakeTi | None = None) -> context.TaskInputs:
    inputs = context.TaskInputs(airflow_context(make_run("m1"), ti), settings=Settings())
    inputs.__dict__["db"] = db  # the cached state database, without an Airflow connection
    monkeypatch.setattr(context, "task_inputs", lambda: inputs)
    return inputs


@pytest.mark.parametrize("error, kind", [(SystemicError("first answers all ERROR"), runlog.STOP),
                                         (KeyError("1001"), runlog.FAILURE)])
def test_a_failing_body_is_recorded_then_re_raised(db, monkeypatch, error, kind):
    _inputs(db, monkeypatch)

    @context.recorded("some_task")
    def body(batch: dict, *, run) -> dict:
        raise error

    with pytest.raises(type(error)):
        body({"batch": 1})
    (event,) = [e for e in runlog.events(db, "m1") if e.kind != runlog.CAUSE]
    assert (event.task, event.kind, event.message) == ("some_task", kind, runlog.describe(error))
    assert "1001" not in event.message   # an unexpected error keeps only its type
    # a stop is also the run's cause, in words (spor.send.cause); a failure is not a cause of its own
    assert runlog.cause(db, "m1") == ("first answers all ERROR" if kind == runlog.STOP else None)


@pytest.mark.parametrize("error, raised", [(SystemicError("first answers all ERROR"), AirflowFailException),
                                           (KeyError("1001"), KeyError)])
def test_on_airflow_3_2_a_run_stopping_error_is_re_raised_as_airflows_fail_exception(db, monkeypatch, error, raised):
    """Airflow 3.2 has no retry policy: the send tasks' retries would repeat a run-stopping error,
    so it leaves the task as AirflowFailException, which Airflow never retries (spor.compat)."""
    from spor import compat

    monkeypatch.setattr(compat, "has_retry_policy", lambda: False)
    _inputs(db, monkeypatch)

    @context.recorded("some_task")
    def body(batch: dict, *, run) -> dict:
        raise error

    with pytest.raises(raised) as caught:
        body({"batch": 1})
    assert caught.value is error or caught.value.__cause__ is error
    (event,) = [e for e in runlog.events(db, "m1") if e.kind != runlog.CAUSE]
    assert event.message == runlog.describe(error)   # recorded as it was raised


def test_a_body_gets_its_arguments_and_the_inputs_it_names(db, monkeypatch):
    _inputs(db, monkeypatch)

    @context.recorded("some_task")
    def body(batch: dict, *, run, settings) -> dict:
        return {"run": run.run_id, "threads": settings.threads_per_task, **batch}

    assert body(batch={"batch": 2}) == {"run": "m1", "threads": Settings().threads_per_task, "batch": 2}
    assert runlog.events(db, "m1") == []


def test_the_environment_comes_from_check_certificate_without_any_spor_connection(db, monkeypatch):
    for name in [k for k in __import__("os").environ if k.startswith("AIRFLOW_CONN_")]:
        monkeypatch.delenv(name)
    ti = FakeTi()
    ti.task_id = ids.CHECK_CERTIFICATE
    ti.xcom_push(ids.XCOM_ENVIRONMENT, "stage")
    inputs = _inputs(db, monkeypatch, ti)
    assert inputs.environment == "stage" and inputs.known_environment == "stage"


def test_without_check_certificate_the_environment_is_an_error_that_says_why(db, monkeypatch):
    inputs = _inputs(db, monkeypatch)
    assert inputs.known_environment is None
    with pytest.raises(ConfigurationError, match="check_certificate did not succeed"):
        _ = inputs.environment


def test_the_resend_form_picks_the_connection_of_its_environment():
    s = Settings()
    assert context.spor_conn_id(make_run(params={"environment": "default"}), s) == s.spor_conn_id
    assert context.spor_conn_id(make_run(params={"environment": "stage"}), s) == s.environments["stage"]
    with pytest.raises(ConfigurationError, match="'nowhere'"):
        context.spor_conn_id(make_run(params={"environment": "nowhere"}), s)


def test_spor_config_pool_is_ignored_with_a_warning(caplog):
    from spor import settings as settings_module

    with caplog.at_level("WARNING", logger="spor"):
        parsed = settings_module.parse('{"pool": "other", "threads_per_task": 8}')
    assert parsed.threads_per_task == 8 and not hasattr(parsed, "pool")
    assert "spor_config.pool is ignored: the send tasks' pool is the provider option [spor] pool" in caplog.text
