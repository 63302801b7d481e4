"""The 05:00 Deadline Alert has one source: ``spor_config.deadline``, read when the scheduler
evaluates the reference (as a run is created), not when the DAG file is parsed (R19)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time

import pytest

from spor.notifications.deadline import NextLocalDeadline, configured_deadline, nightly_deadline
from spor.settings import DEFAULT_DEADLINE, Settings

RUN_AFTER = datetime(2025, 12, 1, 23, 30, tzinfo=UTC)  # 00:30 Stockholm on 2 December


class _Row:
    def __init__(self, created_at: datetime | None):
        self.created_at = created_at

    def first(self) -> tuple[datetime, datetime | None]:
        return RUN_AFTER, self.created_at


class _Session:
    """What the reference asks of the scheduler's session: the run's ``run_after`` and when the
    run was created (by default as the scheduler creates a nightly run: at its ``run_after``)."""

    def __init__(self, created_at: datetime | None = RUN_AFTER):
        self.created_at = created_at

    def execute(self, statement) -> _Row:
        assert "run_after" in str(statement) and "created_at" in str(statement)
        return _Row(self.created_at)


def _fires_at(reference: NextLocalDeadline) -> str:
    return _fires_at_with(reference, _Session())


def _fires_at_with(reference: NextLocalDeadline, session) -> str:
    when = reference._evaluate_with(session=session, dag_id="spor_nightly", run_id="scheduled__1")
    return f"{when.astimezone(__import__('zoneinfo').ZoneInfo('Europe/Stockholm')):%Y-%m-%d %H:%M}"


def test_without_spor_config_the_alert_fires_at_the_default_deadline(monkeypatch):
    monkeypatch.delenv("AIRFLOW_VAR_SPOR_CONFIG", raising=False)
    assert Settings().deadline == DEFAULT_DEADLINE == configured_deadline() == time(5, 0)
    assert _fires_at(NextLocalDeadline()) == "2025-12-02 05:00"


def test_changing_spor_config_deadline_moves_the_alert_without_reparsing(monkeypatch):
    dag_deadline = nightly_deadline()  # as the DAG file made it: no time of its own
    reference = NextLocalDeadline.deserialize_reference(dag_deadline.reference.serialize_reference())
    assert reference.at is None
    monkeypatch.setenv("AIRFLOW_VAR_SPOR_CONFIG", json.dumps({"deadline": "04:30"}))
    assert _fires_at(reference) == "2025-12-02 04:30"
    monkeypatch.setenv("AIRFLOW_VAR_SPOR_CONFIG", json.dumps({"deadline": "03:45", "threads_per_task": 8}))
    assert _fires_at(reference) == "2025-12-02 03:45"


def test_the_variable_in_the_metadata_database_counts_too(airflow_db, monkeypatch):
    monkeypatch.delenv("AIRFLOW_VAR_SPOR_CONFIG", raising=False)
    from airflow.models import Variable

    Variable.set("spor_config", json.dumps({"deadline": "04:15"}))
    try:
        assert configured_deadline() == time(4, 15)
    finally:
        Variable.delete("spor_config")


def test_the_scheduler_evaluates_it_inside_its_loop_without_a_commit(airflow_db, monkeypatch):
    """The scheduler creates a run's deadline inside a session that must not commit (its HA
    locks): reading the Variable from the metadata database must use that session."""
    monkeypatch.delenv("AIRFLOW_VAR_SPOR_CONFIG", raising=False)
    from airflow.models import Variable
    from airflow.utils.session import create_session
    from airflow.utils.sqlalchemy import prohibit_commit

    Variable.set("spor_config", json.dumps({"deadline": "04:20"}))
    try:
        with create_session() as session, prohibit_commit(session):
            assert _fires_at_in(NextLocalDeadline(), session) == "2025-12-02 04:20"
    finally:
        Variable.delete("spor_config")


def _fires_at_in(reference: NextLocalDeadline, session) -> str:
    class _InSession:
        def execute(self, statement):
            return _Row(RUN_AFTER) if "run_after" in str(statement) else session.execute(statement)

        def __getattr__(self, name):
            return getattr(session, name)

    return _fires_at_with(reference, _InSession())


def test_an_explicit_time_and_a_reference_stored_by_0_2_keep_theirs(monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_SPOR_CONFIG", json.dumps({"deadline": "04:30"}))
    assert _fires_at(NextLocalDeadline(at="05:00")) == "2025-12-02 05:00"
    assert NextLocalDeadline.deserialize_reference({"at": "05:00"}).at == "05:00"


def test_a_bad_deadline_setting_is_a_clear_error(monkeypatch):
    from spor.errors import ConfigurationError

    monkeypatch.setenv("AIRFLOW_VAR_SPOR_CONFIG", '{"deadline": "5 o\'clock"}')
    with pytest.raises(ConfigurationError, match="spor_config"):
        configured_deadline()


def test_R19_a_run_created_after_its_0500_gets_no_deadline(monkeypatch):
    """A backfill day or a nightly run created after its night's 05:00: Airflow would alert at
    once for a deadline in the past, so the reference gives none (Airflow then stores none)."""
    monkeypatch.delenv("AIRFLOW_VAR_SPOR_CONFIG", raising=False)
    late = datetime(2025, 12, 2, 4, 1, tzinfo=UTC)  # 05:01 Stockholm, the night's 05:00 has passed
    evaluated = NextLocalDeadline()._evaluate_with(session=_Session(created_at=late), dag_id="spor_nightly",
                                                    run_id="backfill__1")
    assert evaluated is None
    just_in_time = datetime(2025, 12, 2, 3, 59, tzinfo=UTC)  # 04:59 Stockholm
    assert _fires_at_with(NextLocalDeadline(), _Session(created_at=just_in_time)) == "2025-12-02 05:00"


def test_a_run_from_before_created_at_was_recorded_counts_from_now(monkeypatch):
    monkeypatch.delenv("AIRFLOW_VAR_SPOR_CONFIG", raising=False)
    assert NextLocalDeadline()._evaluate_with(session=_Session(created_at=None), dag_id="spor_nightly",
                                              run_id="scheduled__1") is None  # 2 December 2025 is past
