"""What every task body runs with, and the decorator that turns a body into a task callable.

A body reads its run from the Airflow task context, its settings from the ``spor_config``
Variable and its systems from the ``spor_ops``, ``spor_state`` and ``spor_default`` connections,
all through :class:`TaskEnv`. Connections open on first use; heavy libraries are imported inside
the functions so that parsing the DAG files stays fast.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from spor.clock import clock_from_env
from spor.errors import RunStoppingError
from spor.state import runlog
from spor.tasks import runinfo
from spor.tasks.runinfo import RunInfo

log = logging.getLogger("spor")


@dataclass
class TaskEnv:
    context: dict
    run: RunInfo
    settings: Any
    clock: Any

    @functools.cached_property
    def db(self):
        from spor.hooks.state import state_db

        return state_db(self.settings.state_conn_id, clock=self.clock)

    @functools.cached_property
    def reader(self):
        from spor.extract.source import SourceReader

        return SourceReader.from_conn_id(self.settings.ops_conn_id)

    @property
    def spor_conn_id(self) -> str:
        env = self.run.params.get("environment") or "default"
        if env == "default":
            return self.settings.spor_conn_id
        return self.settings.environments[env]

    @functools.cached_property
    def hook(self):
        from spor.hooks.spor import SporHook

        return SporHook(spor_conn_id=self.spor_conn_id)

    @property
    def environment(self) -> str:
        """The SPOR environment the connection says it is (ledger key: stage ≠ production)."""
        return self.hook.get_config().environment

    @property
    def dry_run(self) -> bool:
        return bool(self.run.params.get("dry_run", False))

    def run_finished(self, dag_id: str, run_id: str) -> bool:
        """True only when Airflow says that run has finished or failed (docs/adr/0005)."""
        state = self.context["ti"].get_dagrun_state(dag_id, run_id)
        return str(getattr(state, "value", state)) in ("success", "failed")

    def sending_window(self, started_at: datetime):
        """The run's sending window: the deadline for spor_nightly runs, the blackout for all."""
        from spor.send.windows import SendingWindow

        return SendingWindow.for_run(has_deadline=self.run.has_deadline, started_at=started_at,
                                     deadline=self.settings.deadline,
                                     margin=timedelta(seconds=self.settings.send_margin_seconds))


def task_env() -> TaskEnv:
    """The environment of the Airflow task running now."""
    from airflow.sdk import get_current_context

    from spor import settings

    context = get_current_context()
    return TaskEnv(context=context, run=runinfo.from_context(context), settings=settings.load(),
                   clock=clock_from_env())


def recorded(task: str) -> Callable[[Callable], Callable]:
    """Runs a body ``body(env, *xcom_args)`` with the task's environment. A failure is recorded as a
    PII-safe run event under ``task`` (the summary reports it), then re-raised."""

    def decorate(body: Callable) -> Callable:
        @functools.wraps(body)
        def run(*args: Any, **kwargs: Any) -> Any:
            env = task_env()
            try:
                return body(env, *args, **kwargs)
            except Exception as exc:
                kind = runlog.STOP if isinstance(exc, RunStoppingError) else runlog.FAILURE
                _record(env, task, kind, runlog.describe(exc))
                raise

        # Airflow binds the upstream XCom arguments by this signature, so it must not list `env`.
        signature = inspect.signature(body)
        run.__signature__ = signature.replace(parameters=list(signature.parameters.values())[1:])  # type: ignore[attr-defined] - inspect reads __signature__ from any callable
        return run

    return decorate


def _record(env: TaskEnv, task: str, kind: str, message: str) -> None:
    try:
        runlog.add(env.db, env.run.run_id, task, kind, message)
    except Exception:
        log.exception("could not record the %s event of %s in the state database", kind, task)
