"""The task chain both DAGs share; only the extraction differs (changed since the watermark, or chosen)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import AssetAlias

from spor import compat
from spor.errors import ConfigurationError
from spor.lineage.assets import SENT_TO_SPOR
from spor.lineage.operator import spor_task
from spor.notifications.alerts import on_run_failed, on_run_succeeded
from spor.tasks import ids
from spor.tasks.build_and_stage import build_and_stage
from spor.tasks.check_certificate import check_certificate
from spor.tasks.context import TaskCallable
from spor.tasks.plan_batches import plan_batches
from spor.tasks.quality_gate import quality_gate
from spor.tasks.raise_removal_requests import raise_removal_requests
from spor.tasks.runinfo import send_pool
from spor.tasks.send_batch import send_batch
from spor.tasks.summarize import summarize
from spor.tasks.wait_for_window import WaitForWindow

#: What both DAGs share: one run at a time, no catch-up of missed nights (the watermark and the
#: outbox carry the work over), no Airflow task retries except for the send tasks (below);
#: when a run ends, the team's alerts (spor.notifications.alerts).
DAG_DEFAULTS: dict[str, Any] = {
    "start_date": pendulum.datetime(2026, 1, 1, tz="Europe/Stockholm"),
    "catchup": False,
    "max_active_runs": 1,
    "tags": ["spor"],
    "default_args": {"retries": 0},
    "on_failure_callback": on_run_failed,
    "on_success_callback": on_run_succeeded,
}


#: A send task whose worker died (SIGKILL, lost node) is retried and continues its batch (it
#: claims the same batch and sends what it still owns, docs/adr/0005). A run-stopping error
#: (certificate rejected, systemic stop, block list unreadable, configuration) is not retried: the
#: same attempt would stop the same way (a retry policy on Airflow 3.3, AirflowFailException on
#: 3.2: spor.compat). Transient SPOR errors never reach Airflow: the send loop defers them within
#: the window.
SEND_RETRIES: dict[str, Any] = {
    "retries": 2,
    "retry_delay": timedelta(seconds=15),
    **compat.run_stopping_not_retried(),
}


def certificate_queue() -> dict[str, str]:
    """``queue=`` for the tasks that use the SITHS certificate (``[spor] certificate_queue``,
    e.g. ``AIRFLOW__SPOR__CERTIFICATE_QUEUE``); nothing when unset, so the default queue applies."""
    from airflow.sdk.configuration import conf

    name = (conf.get("spor", "certificate_queue", fallback="") or "").strip()
    return {"queue": name} if name else {}


#: Where the certificate's Kubernetes secret is mounted when ``[spor] certificate_mount_path`` is unset.
DEFAULT_CERTIFICATE_MOUNT_PATH = "/opt/spor/certificate"
#: The official image's user (the Helm chart's ``uid``): the pods of the certificate run as it.
DEFAULT_CERTIFICATE_RUN_AS_USER = 50000
#: A group of its own for the certificate's files, not the image's shared group 0 (docs/deployment.md).
DEFAULT_CERTIFICATE_FS_GROUP = 50000
#: What the secret's files ask for: owner read only. The kubelet makes them 0440, group fsGroup,
#: owner root, so the task's user reads them through fsGroup; without fsGroup nobody but root could.
CERTIFICATE_FILE_MODE = 0o400
CERTIFICATE_VOLUME = "spor-certificate"
_SECRET_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


def _int_option(conf: Any, option: str, default: int, minimum: int) -> int:
    raw = (conf.get("spor", option, fallback="") or "").strip()
    try:
        value = int(raw) if raw else default
    except ValueError:
        raise ConfigurationError(f"[spor] {option} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"[spor] {option} must be at least {minimum}, not {value}")
    return value


def certificate_pod() -> dict[str, Any]:
    """``executor_config=`` for the tasks that use the SITHS certificate when ``[spor] certificate_secret``
    (e.g. ``AIRFLOW__SPOR__CERTIFICATE_SECRET``) names a Kubernetes secret: a ``pod_override`` for the
    KubernetesExecutor that mounts it read-only at ``[spor] certificate_mount_path``, in a pod whose
    user alone reads the key. Nothing when unset, and then the kubernetes client is not imported."""
    from airflow.sdk.configuration import conf

    secret = (conf.get("spor", "certificate_secret", fallback="") or "").strip()
    if not secret:
        return {}
    if not _SECRET_NAME.fullmatch(secret):
        raise ConfigurationError(f"[spor] certificate_secret {secret!r} is not a Kubernetes secret name")
    mount_path = (conf.get("spor", "certificate_mount_path", fallback="") or "").strip() or DEFAULT_CERTIFICATE_MOUNT_PATH
    if not mount_path.startswith("/"):
        raise ConfigurationError(f"[spor] certificate_mount_path must be an absolute path, not {mount_path!r}")
    run_as_user = _int_option(conf, "certificate_run_as_user", DEFAULT_CERTIFICATE_RUN_AS_USER, minimum=1)
    fs_group = _int_option(conf, "certificate_fs_group", DEFAULT_CERTIFICATE_FS_GROUP, minimum=0)
    try:
        # Only here: a site that does not set the option needs neither the client nor its import time.
        from kubernetes.client import models as k8s
    except ImportError:
        raise ConfigurationError("[spor] certificate_secret is set but the kubernetes client is not installed: "
                                 "install spor-airflow[kubernetes] (apache-airflow-providers-cncf-kubernetes)") from None

    pod = k8s.V1Pod(spec=k8s.V1PodSpec(
        # The executor takes this securityContext instead of the base pod's (it merges no fields), so it
        # repeats the chart's user, the image's group 0 and what the restricted Pod Security profile
        # requires; fsGroup is the group through which the task reads the key.
        security_context=k8s.V1PodSecurityContext(
            run_as_user=run_as_user, run_as_group=0, run_as_non_root=True, fs_group=fs_group,
            seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault")),
        # "base" is the task's container; the executor adds these mounts and volumes to the base pod's.
        containers=[k8s.V1Container(name="base", volume_mounts=[
            k8s.V1VolumeMount(name=CERTIFICATE_VOLUME, mount_path=mount_path, read_only=True)])],
        volumes=[k8s.V1Volume(name=CERTIFICATE_VOLUME, secret=k8s.V1SecretVolumeSource(
            secret_name=secret, default_mode=CERTIFICATE_FILE_MODE))],
    ))
    return {"executor_config": {"pod_override": pod}}


def _task(body: TaskCallable, **kwargs: Any) -> Any:
    """The Airflow task of a body, under the task id its ``recorded`` decorator gave it; its
    operator hands what the body reports to OpenLineage (spor.lineage.operator)."""
    return spor_task(task_id=body.task_id, doc_md=body.__doc__, **kwargs)(body)


def pipeline(extract: TaskCallable, *, dag_id: str = "") -> None:
    """check_certificate → extract → quality_gate → build_and_stage → plan_batches → wait_for_window
    → send_batch × N (pool ``[spor] pool``, default ``spor``, or ``[spor] backfill_pool`` for
    ``spor_resend``; labelled "batch N") → summarize (always runs); beside them, after extract (the
    block list was readable): raise_removal_requests (R11). Backfill runs of ``spor_nightly`` get
    their send pool from the provider's cluster policy (spor.policy)."""
    holds_certificate = {**certificate_queue(), **certificate_pod()}
    certificate = _task(check_certificate, **holds_certificate)()
    extracted = _task(extract)()
    gate = _task(quality_gate)(extracted)
    staged = _task(build_and_stage)(extracted, gate)
    batches = _task(plan_batches)(staged)
    wait = WaitForWindow(
        task_id=ids.WAIT_FOR_WINDOW,
        target_time=f"{{{{ ti.xcom_pull(task_ids='{ids.PLAN_BATCHES}', key='{ids.XCOM_WINDOW_OPENS_AT}') }}}}",
        doc_md="Defers (no worker slot held) while the run would otherwise start inside 05:15-06:00.",
    )
    # The SPOR Asset of the run's environment is known only when it runs: an alias, resolved by
    # each batch that sent something ("sent to SPOR"; docs/lineage.md).
    sent = _task(send_batch, pool=send_pool(dag_id), map_index_template="{{ batch_label }}",
                 outlets=[AssetAlias(SENT_TO_SPOR)], **SEND_RETRIES, **holds_certificate).expand(batch=batches)
    removals = _task(raise_removal_requests)()
    summary = _task(summarize, trigger_rule="all_done")()
    certificate >> extracted >> removals >> summary
    batches >> wait >> sent >> summary
    staged >> summary
