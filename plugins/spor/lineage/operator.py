"""The tasks' operator: Airflow's ``@task`` operator that also answers OpenLineage.

The OpenLineage provider asks an operator for its lineage through
``get_openlineage_facets_on_complete`` / ``_on_failure`` when the task ends (in the task's own
process, or a fork of it). The answer is what the body reported in its context
(:mod:`spor.lineage.report`); a task that reported nothing answers None, and the provider uses its
declared inlets and outlets as for any task. Without the OpenLineage provider nothing calls these.
"""

from __future__ import annotations

from typing import Any

# The class Airflow's own @task builds; only its OpenLineage methods are added here.
from airflow.providers.standard.decorators.python import _PythonDecoratedOperator
from airflow.sdk.bases.decorator import TaskDecorator, task_decorator_factory

from spor.lineage import report


class SporTaskOperator(_PythonDecoratedOperator):
    """``@task`` whose body reports its lineage (shown as ``@task`` in the UI)."""

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        return lineage_of(task_instance)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        return lineage_of(task_instance)


def lineage_of(task_instance: Any) -> Any:
    """The OperatorLineage of what the task instance's body reported, or None."""
    reported = report.of_context(task_instance.get_template_context())
    if reported is None:
        return None
    from spor.lineage.facets import operator_lineage

    return operator_lineage(reported)


def spor_task(**kwargs: Any) -> TaskDecorator:
    """``@task(**kwargs)`` with :class:`SporTaskOperator`."""
    return task_decorator_factory(decorated_operator_class=SporTaskOperator, **kwargs)
