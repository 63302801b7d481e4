"""``wait_for_window``: the deferrable wait before the sends, for a run that would otherwise start
inside the 05:15-06:00 blackout.

It defers only while the window is closed. The standard sensor defers every time, and a trigger
whose moment has passed fires at once: the task resumes while the scheduler is still handling the
end of its first attempt, and on a loaded machine the scheduler then reads that end as "the state
changed externally" and marks the resumed task failed (four of ten backfill runs, LocalExecutor).
"""

from __future__ import annotations

from typing import Any

from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync


class WaitForWindow(DateTimeSensorAsync):
    """DateTimeSensorAsync that returns at once when its moment has passed."""

    def execute(self, context: Any) -> None:  # type: ignore[override]
        if self.poke(context):
            return None
        super().execute(context)
        return None
