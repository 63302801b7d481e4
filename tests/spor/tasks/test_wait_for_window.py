"""R19, the blackout: wait_for_window defers only while the window is closed. A deferral whose
trigger fires at once raced the scheduler under load and failed the run (LocalExecutor, backfill)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from airflow.exceptions import TaskDeferred

from spor.tasks.wait_for_window import WaitForWindow


def _sensor(moment: datetime) -> WaitForWindow:
    return WaitForWindow(task_id="wait_for_window", target_time=moment.isoformat())


def test_r19_an_open_window_does_not_defer():
    assert _sensor(datetime.now(UTC) - timedelta(seconds=1)).execute({}) is None


def test_r19_a_closed_window_defers_until_it_opens():
    opens = datetime.now(UTC) + timedelta(minutes=45)
    with pytest.raises(TaskDeferred) as deferred:
        _sensor(opens).execute({})
    assert deferred.value.trigger.moment == opens
    assert deferred.value.method_name == "execute_complete"
