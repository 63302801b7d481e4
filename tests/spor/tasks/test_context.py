"""The recording decorator of the task bodies: the callables Airflow sees take only their XCom
arguments, and a failing body leaves a PII-safe run event before it re-raises."""

from __future__ import annotations

import inspect
from datetime import datetime

import pytest

from spor.clock import STOCKHOLM
from spor.errors import SystemicError
from spor.state import runlog
from spor.tasks import context
from spor.tasks.build_and_stage import build_and_stage
from spor.tasks.extract import extract_changed, extract_selected
from spor.tasks.plan_batches import plan_batches
from spor.tasks.quality_gate import quality_gate
from spor.tasks.runinfo import MANUAL, RunInfo
from spor.tasks.send_batch import send_batch
from spor.tasks.summarize import summarize


def test_task_callables_show_only_their_xcom_arguments():
    params = {fn.__name__: list(inspect.signature(fn).parameters) for fn in
              (extract_changed, extract_selected, quality_gate, build_and_stage, plan_batches, send_batch, summarize)}
    assert params == {"extract_changed": [], "extract_selected": [], "quality_gate": ["extracted"],
                      "build_and_stage": ["extracted", "gate"], "plan_batches": ["staged"], "send_batch": ["batch"],
                      "summarize": []}
    assert send_batch.__doc__.startswith("Sends one batch to SPOR")


def _env(db) -> context.TaskEnv:
    run = RunInfo(dag_id="spor_nightly", run_id="m1", mode=MANUAL, logical_date=None,
                  run_after=datetime(2025, 3, 3, 1, 0, tzinfo=STOCKHOLM))
    env = context.TaskEnv(context={}, run=run, settings=None, clock=None)
    env.__dict__["db"] = db  # the cached state-database connection, without an Airflow connection
    return env


@pytest.mark.parametrize("error, kind", [(SystemicError("first answers all ERROR"), runlog.STOP),
                                         (KeyError("1001"), runlog.FAILURE)])
def test_a_failing_body_is_recorded_then_re_raised(state_db, monkeypatch, error, kind):
    env = _env(state_db)
    monkeypatch.setattr(context, "task_env", lambda: env)

    @context.recorded("some_task")
    def body(env: context.TaskEnv, batch: dict) -> dict:
        raise error

    with pytest.raises(type(error)):
        body({"batch": 1})
    (event,) = runlog.events(state_db, "m1")
    assert (event.task, event.kind, event.message) == ("some_task", kind, runlog.describe(error))
    assert "1001" not in event.message   # an unexpected error keeps only its type


def test_a_body_gets_the_environment_and_its_arguments(state_db, monkeypatch):
    env = _env(state_db)
    monkeypatch.setattr(context, "task_env", lambda: env)

    @context.recorded("some_task")
    def body(env: context.TaskEnv, batch: dict) -> dict:
        return {"run": env.run.run_id, **batch}

    assert body(batch={"batch": 2}) == {"run": "m1", "batch": 2}
    assert runlog.events(state_db, "m1") == []
