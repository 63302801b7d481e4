"""The provider's Airflow cluster policy (entry point ``airflow.policy``): the send tasks of
backfill runs of ``spor_nightly`` go to ``[spor] backfill_pool``. A task's pool is fixed when the
DAG is parsed, but one DAG has both the nightly and its backfills; this hook sets it per task
instance, when Airflow creates or refreshes it, from the run it belongs to."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.policies import hookimpl

if TYPE_CHECKING:
    from airflow.models.taskinstance import TaskInstance

#: The DAGs and the task whose pool this policy decides.
DAG_IDS = ("spor_nightly", "spor_resend")
SEND_TASK_ID = "send_batch"


@hookimpl
def task_instance_mutation_hook(task_instance: TaskInstance) -> None:
    """Every task instance of the site passes here: anything but our send tasks is left as it is.
    Only ``task_instance``: Airflow 3.2's hook has no ``dag_run`` argument, and pluggy refuses a
    hook that names one the specification lacks."""
    if task_instance.dag_id not in DAG_IDS or task_instance.task_id != SEND_TASK_ID:
        return
    from spor.tasks.runinfo import send_pool

    if task_instance.run_id:
        task_instance.pool = send_pool(task_instance.dag_id, str(task_instance.run_id))
