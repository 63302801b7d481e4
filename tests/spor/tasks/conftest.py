"""The task-body tests' fixtures (tests/spor/tasks/factory.py)."""

from tests.spor.tasks.factory import clock, db, ops

__all__ = ["clock", "db", "ops"]
