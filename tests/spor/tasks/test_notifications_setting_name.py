"""The notification setting under its old name, ``spor_removal_notifier``, still configures the
removal e-mails and the alerts, and the run summary tells the team to rename it to
``spor_notifications``; under the new name the summary says nothing about it."""

from __future__ import annotations

import json

import pytest

from spor.notifications import setting
from spor.tasks.raise_removal_requests import raise_removal_requests
from spor.tasks.summarize import summarize
from tests.spor.tasks.factory import Night, make_run, settings

SETTING = json.dumps({"smtp_conn_id": "smtp_default", "cc": "spor-team@sjukhus.example"})


@pytest.fixture
def night(db, ops, clock, monkeypatch):
    monkeypatch.delenv("AIRFLOW_VAR_SPOR_NOTIFICATIONS", raising=False)
    monkeypatch.delenv("AIRFLOW_VAR_SPOR_REMOVAL_NOTIFIER", raising=False)
    return Night(make_run(), db, ops, clock, settings())


def _notes(night: Night) -> list[str]:
    from spor.state import run_summary

    night.call(raise_removal_requests)
    night.call(summarize)
    saved = run_summary.load(night.db, night.run.dag_id, night.run.run_id)
    assert saved is not None
    return list(saved["notes"])


def test_the_run_summary_notes_a_setting_read_under_its_old_name(night, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_SPOR_REMOVAL_NOTIFIER", SETTING)
    assert f"raise_removal_requests: {setting.deprecation_note()}" in _notes(night)


def test_the_run_summary_says_nothing_of_the_setting_under_its_new_name(night, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_SPOR_NOTIFICATIONS", SETTING)
    assert not [n for n in _notes(night) if "spor_removal_notifier" in n]
