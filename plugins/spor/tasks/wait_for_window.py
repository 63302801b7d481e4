"""``wait_for_window``: the deferrable wait before the sends, for a run that would otherwise start
inside the 05:15-06:00 blackout.

It defers only while the window is closed. The standard DateTimeSensorAsync defers every time, and
a trigger whose moment has passed fires at once: the task resumes while the scheduler is still
handling the end of its first attempt, and on a loaded machine the scheduler then reads that end
as "the state changed externally" and marks the resumed task failed (four of ten backfill runs,
LocalExecutor).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.providers.standard.sensors.date_time import DateTimeSensor
from airflow.providers.standard.triggers.temporal import DateTimeTrigger


class WaitForWindow(DateTimeSensor):
    """Returns at once when its moment has passed; otherwise defers (no worker slot held) until it."""

    def execute(self, context: Any) -> None:
        if self.poke(context):
            return
        self.defer(trigger=DateTimeTrigger(moment=datetime.fromisoformat(str(self.target_time))),
                   method_name="execute_complete")

    def execute_complete(self, context: Any, event: Any = None) -> None:
        return None
