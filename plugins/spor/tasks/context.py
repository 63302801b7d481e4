"""What a task body needs, resolved by name, and the decorator that turns a body into a task callable.

A body names its XCom arguments positionally and what it needs from its surroundings as
keyword-only parameters, typed: ``def quality_gate(extracted, *, run: RunInfo, db: StateDB,
environment: str)``. :func:`recorded` gives Airflow a callable with the XCom arguments only; when
the task runs, it resolves each keyword-only name from :class:`TaskInputs` (the run from the task
context, settings from the ``spor_config`` Variable, the connections ``spor_ops``, ``spor_state``
and the SPOR connection, the environment from check_certificate's XCom). A unit test calls the
body itself (``quality_gate.body``) with what it builds. Connections open on first use; heavy
libraries are imported inside the functions so that parsing the DAG files stays fast.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, MutableMapping
from typing import TYPE_CHECKING, Any, Protocol, cast

from spor import compat
from spor.clock import Clock, clock_from_env
from spor.errors import ConfigurationError, RunStoppingError
from spor.settings import Settings
from spor.state import runlog
from spor.tasks import ids, runinfo
from spor.tasks.runinfo import RunInfo

if TYPE_CHECKING:
    from spor.extract.source import SourceReader
    from spor.hooks.spor import SporHook
    from spor.lineage.report import TaskLineage
    from spor.registration.units import UnitMapping
    from spor.state.database import StateDB

log = logging.getLogger("spor")


class TaskInstance(Protocol):
    """What the bodies use of Airflow's running task instance."""

    def xcom_push(self, key: str, value: Any) -> None: ...

    def xcom_pull(self, task_ids: str | None = None, key: str = ...) -> Any: ...

    def get_dagrun_state(self, dag_id: str, run_id: str) -> Any: ...


class TaskInputs:
    """Everything a body may ask for, by the name of its keyword-only parameter; each is built on
    first use, so a task that does not need the SPOR connection never reads it."""

    def __init__(self, context: MutableMapping[str, Any], *, settings: Settings | None = None,
                 clock: Clock | None = None) -> None:
        self.context = context  # Airflow's task context (send_batch labels its map index here)
        self.run: RunInfo = runinfo.from_context(context)
        self._settings = settings
        self._clock = clock

    @functools.cached_property
    def settings(self) -> Settings:
        if self._settings is not None:
            return self._settings
        from spor import settings

        return settings.load()

    @functools.cached_property
    def clock(self) -> Clock:
        return self._clock or clock_from_env()

    @property
    def ti(self) -> TaskInstance:
        ti: TaskInstance = self.context["ti"]
        return ti

    @functools.cached_property
    def db(self) -> StateDB:
        from spor.hooks.state import state_db

        return state_db(self.settings.state_conn_id, clock=self.clock)

    @functools.cached_property
    def reader(self) -> SourceReader:
        from spor.extract.source import SourceReader

        return SourceReader.from_conn_id(self.settings.ops_conn_id)

    @functools.cached_property
    def units(self) -> UnitMapping:
        """OPS unit -> SPOR SystemId, from the ``spor_units`` Variable."""
        from spor.registration.units import UnitMapping

        return UnitMapping.from_airflow()

    @property
    def spor_conn_id(self) -> str:
        """The SPOR connection of the run: the default one, or the resend form's environment's."""
        return spor_conn_id(self.run, self.settings)

    @functools.cached_property
    def hook(self) -> SporHook:
        from spor.hooks.spor import SporHook

        return SporHook(spor_conn_id=self.spor_conn_id)

    @functools.cached_property
    def environment(self) -> str:
        """The SPOR environment check_certificate resolved for this run (the ledger's key)."""
        found = self.ti.xcom_pull(task_ids=ids.CHECK_CERTIFICATE, key=ids.XCOM_ENVIRONMENT)
        if not found:
            raise ConfigurationError(f"the SPOR environment of run {self.run.run_id} is unknown: "
                                     f"{ids.CHECK_CERTIFICATE} did not succeed")
        return str(found)

    @functools.cached_property
    def known_environment(self) -> str | None:
        """The environment, or None when check_certificate did not get that far (summarize)."""
        found = self.ti.xcom_pull(task_ids=ids.CHECK_CERTIFICATE, key=ids.XCOM_ENVIRONMENT)
        return str(found) if found else None

    @functools.cached_property
    def lineage(self) -> TaskLineage:
        """What the body reports for the catalogue (the OPS views it reads, the SPOR environment
        it sends to, its counts), kept in the task's context for OpenLineage (docs/lineage.md)."""
        from spor.lineage import report

        return report.for_context(self.context, lambda: self.settings.ops_conn_id)

    @property
    def run_finished(self) -> Callable[[str, str], bool]:
        """``run_finished(dag_id, run_id)``: True only when Airflow says that run has finished or
        failed (docs/adr/0005)."""
        ti = self.ti

        def finished(dag_id: str, run_id: str) -> bool:
            state = ti.get_dagrun_state(dag_id, run_id)
            return str(getattr(state, "value", state)) in ("success", "failed")

        return finished


#: The names a body may ask for: the public attributes of TaskInputs.
INPUT_NAMES = frozenset({"context", "run"} | {n for n in vars(TaskInputs) if not n.startswith("_")})


def spor_conn_id(run: RunInfo, settings: Settings) -> str:
    """The SPOR connection id of a run: ``spor_conn_id``, or the one configured for the resend
    form's ``environment``."""
    env = run.params.get("environment") or "default"
    if env == "default":
        return settings.spor_conn_id
    try:
        return settings.environments[env]
    except KeyError:
        raise ConfigurationError(f"no SPOR connection is configured for environment {env!r} "
                                 f"(spor_config.environments)") from None


def task_inputs() -> TaskInputs:
    """The inputs of the Airflow task running now."""
    from airflow.sdk import get_current_context

    # The context itself, not a copy: send_batch's map-index label is read back from it. Airflow
    # types it as a TypedDict of its own keys; at run time it is a dict that takes ours too.
    return TaskInputs(cast("MutableMapping[str, Any]", get_current_context()))


class TaskCallable(Protocol):
    """What :func:`recorded` makes of a body: the callable Airflow runs, with the body and the
    task id beside it."""

    body: Callable[..., Any]
    task_id: str
    __signature__: inspect.Signature
    __name__: str
    __doc__: str | None

    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...


def recorded(task_id: str) -> Callable[[Callable[..., Any]], TaskCallable]:
    """Runs a body ``body(*xcom_args, **inputs)``, resolving each keyword-only parameter from
    :class:`TaskInputs`. A failure is recorded as a PII-safe run event under ``task_id`` (the
    summary reports it), then re-raised (a run-stopping error on Airflow 3.2 as
    ``AirflowFailException``: :func:`spor.compat.raise_run_stopping`). The body stays reachable
    as ``callable.body``."""

    def decorate(body: Callable[..., Any]) -> TaskCallable:
        signature = inspect.signature(body)
        needs = [p.name for p in signature.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]
        unknown = sorted(set(needs) - INPUT_NAMES)
        if unknown:
            raise TypeError(f"{body.__name__} asks for {unknown}, which a task cannot be given; "
                            f"known: {sorted(INPUT_NAMES)}")

        @functools.wraps(body)
        def run(*args: Any, **kwargs: Any) -> Any:
            inputs = task_inputs()
            try:
                return body(*args, **kwargs, **{name: getattr(inputs, name) for name in needs})
            except Exception as exc:
                if not isinstance(exc, RunStoppingError):
                    _record(inputs, task_id, runlog.FAILURE, runlog.describe(exc))
                    raise
                _record(inputs, task_id, runlog.STOP, runlog.describe(exc))
                compat.raise_run_stopping(exc)  # never retried: Airflow 3.2 has no retry policy to say so
                raise

        made = cast(TaskCallable, run)
        # Airflow binds the upstream XCom arguments by this signature: it lists only those.
        xcom = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.KEYWORD_ONLY]
        made.__signature__ = signature.replace(parameters=xcom)
        made.body = body  # the unit tests' way in
        made.task_id = task_id  # what the pipeline names the task
        return made

    return decorate


def _record(inputs: TaskInputs, task_id: str, kind: str, message: str) -> None:
    try:
        runlog.add(inputs.db, inputs.run.run_id, task_id, kind, message)
        if kind == runlog.STOP:  # a stop is the run's cause, unless an earlier one was told
            from spor.send import cause

            cause.record(inputs.db, inputs.run.run_id, task_id, cause.of_stop(message))
    except Exception:
        log.exception("could not record the %s event of %s in the state database", kind, task_id)
