"""KubernetesExecutor: with ``[spor] certificate_secret`` set, the pods of ``check_certificate`` and
``send_batch`` mount the certificate's secret read-only, in a pod whose user alone reads the key,
and the pods of every other task are the site's base pod. Without the option no task has an
``executor_config``.

The pods are built without a cluster, the way the executor builds them: the DAG as the scheduler
has it (serialized and back), the base pod read from a pod template file (the official Helm chart's
worker template with its defaults), reconciled by the provider's ``PodGenerator.construct_pod`` with
the executor's own pod and the task's ``pod_override``, then serialized as the API receives it.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.providers.cncf.kubernetes.pod_generator import PodGenerator
from airflow.serialization.serialized_objects import DagSerialization

from spor import pipeline
from spor.get_provider_info import get_provider_info
from tests.conftest import DAGS

CERTIFICATE_TASKS = ("check_certificate", "send_batch")
IMAGE = "apache/airflow:3.3.2-python3.11"

#: The worker pod template the official Helm chart renders with its defaults (uid 50000, gid 0 as
#: the pod's fsGroup, the container hardened), cut to what matters here.
CHART_POD_TEMPLATE = f"""\
apiVersion: v1
kind: Pod
metadata:
  name: placeholder-name
  labels: {{tier: airflow, component: worker}}
spec:
  containers:
    - name: base
      image: {IMAGE}
      securityContext:
        allowPrivilegeEscalation: false
        capabilities: {{drop: [ALL]}}
      volumeMounts:
        - {{name: logs, mountPath: /opt/airflow/logs}}
        - {{name: config, mountPath: /opt/airflow/airflow.cfg, subPath: airflow.cfg, readOnly: true}}
  restartPolicy: Never
  securityContext: {{runAsUser: 50000, fsGroup: 0}}
  volumes:
    - {{name: logs, emptyDir: {{}}}}
    - {{name: config, configMap: {{name: airflow-config}}}}
"""


def _scheduler_dag(dag_file: str = "spor_nightly.py") -> Any:
    """The DAG parsed with the current environment, as the scheduler reads it back from the database."""
    bag = DagBag(dag_folder=str(DAGS / dag_file))
    assert bag.import_errors == {}, bag.import_errors
    (dag,) = bag.dags.values()
    return DagSerialization.from_dict(DagSerialization.to_dict(dag))


def _pod(dag: Any, task_id: str, template: Any) -> dict:
    """The pod the KubernetesExecutor would ask the API for, as the JSON the API receives."""
    task = dag.get_task(task_id)
    map_index = 0 if task_id == "send_batch" else -1  # a mapped task's first batch
    base_pod = PodGenerator.deserialize_model_file(str(template))
    pod = PodGenerator.construct_pod(
        dag_id=dag.dag_id, task_id=task_id, pod_id=f"{dag.dag_id}-{task_id}", try_number=1, kube_image=IMAGE,
        date=None, args=["airflow", "tasks", "run", dag.dag_id, task_id], namespace="airflow",
        pod_override_object=PodGenerator.from_obj(task.executor_config), base_worker_pod=base_pod,
        scheduler_job_id="1", run_id="scheduled__2026-01-02T00:30:00+01:00", map_index=map_index)
    return PodGenerator.serialize_pod(pod)


@pytest.fixture
def template(tmp_path):
    path = tmp_path / "pod_template_file.yaml"
    path.write_text(CHART_POD_TEMPLATE)
    return path


def _certificate_volumes(pod: dict) -> list[dict]:
    return [v for v in pod["spec"].get("volumes", []) if "secret" in v]


def _mounts(pod: dict) -> dict[str, dict]:
    (container,) = pod["spec"]["containers"]
    return {m["mountPath"]: m for m in container["volumeMounts"]}


def test_the_certificate_tasks_mount_the_secret_read_only_and_no_other_task_does(monkeypatch, template):
    monkeypatch.setenv("AIRFLOW__SPOR__CERTIFICATE_SECRET", "spor-certificate")
    dag = _scheduler_dag()

    for task_id in CERTIFICATE_TASKS:
        pod = _pod(dag, task_id, template)
        (volume,) = _certificate_volumes(pod)
        # 0o400 asked; the kubelet makes it 0440, group fsGroup (docs/deployment.md)
        assert volume == {"name": "spor-certificate", "secret": {"secretName": "spor-certificate", "defaultMode": 0o400}}
        mounts = _mounts(pod)
        assert mounts["/opt/spor/certificate"] == {"name": "spor-certificate", "mountPath": "/opt/spor/certificate",
                                                   "readOnly": True}
        # the override replaces the chart's pod securityContext as a whole
        assert pod["spec"]["securityContext"] == {
            "runAsUser": 50000, "runAsGroup": 0, "runAsNonRoot": True, "fsGroup": 50000,
            "seccompProfile": {"type": "RuntimeDefault"}}
        # everything else of the base pod and of the executor's own pod stays
        assert set(mounts) == {"/opt/spor/certificate", "/opt/airflow/logs", "/opt/airflow/airflow.cfg"}
        assert {v["name"] for v in pod["spec"]["volumes"]} == {"spor-certificate", "logs", "config"}
        (container,) = pod["spec"]["containers"]
        assert container["name"] == "base" and container["image"] == IMAGE
        assert container["args"] == ["airflow", "tasks", "run", "spor_nightly", task_id]
        assert container["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
        assert pod["metadata"]["labels"]["task_id"] == task_id

    for task in dag.tasks:
        if task.task_id in CERTIFICATE_TASKS:
            continue
        assert not task.executor_config, task.task_id
        pod = _pod(dag, task.task_id, template)
        assert _certificate_volumes(pod) == [], task.task_id
        assert "/opt/spor/certificate" not in _mounts(pod), task.task_id
        assert pod["spec"]["securityContext"] == {"runAsUser": 50000, "fsGroup": 0}, task.task_id


def test_the_mount_path_user_and_group_are_options_with_the_declared_defaults(monkeypatch, template):
    declared = get_provider_info()["config"]["spor"]["options"]
    assert pipeline.DEFAULT_CERTIFICATE_MOUNT_PATH == declared["certificate_mount_path"]["default"]
    assert str(pipeline.DEFAULT_CERTIFICATE_RUN_AS_USER) == declared["certificate_run_as_user"]["default"]
    assert str(pipeline.DEFAULT_CERTIFICATE_FS_GROUP) == declared["certificate_fs_group"]["default"]

    for option, value in {"SECRET": "siths-function-cert", "MOUNT_PATH": "/var/run/spor", "RUN_AS_USER": "1000",
                          "FS_GROUP": "0"}.items():
        monkeypatch.setenv(f"AIRFLOW__SPOR__CERTIFICATE_{option}", value)
    pod = _pod(_scheduler_dag(), "send_batch", template)
    (volume,) = _certificate_volumes(pod)
    assert volume["secret"] == {"secretName": "siths-function-cert", "defaultMode": 0o400}
    assert _mounts(pod)["/var/run/spor"]["readOnly"] is True
    assert pod["spec"]["securityContext"]["runAsUser"] == 1000
    assert pod["spec"]["securityContext"]["fsGroup"] == 0  # the chart's gid: the key readable by group 0


@pytest.mark.parametrize("option, value, message", [
    ("SECRET", "SPOR_cert", "is not a Kubernetes secret name"),
    ("MOUNT_PATH", "certificate", "must be an absolute path"),
    ("RUN_AS_USER", "0", "certificate_run_as_user must be at least 1"),
    ("FS_GROUP", "airflow", "certificate_fs_group must be a whole number"),
])
def test_a_wrong_option_is_an_import_error_of_the_dag_file(monkeypatch, option, value, message):
    monkeypatch.setenv("AIRFLOW__SPOR__CERTIFICATE_SECRET", "spor-certificate")
    monkeypatch.setenv(f"AIRFLOW__SPOR__CERTIFICATE_{option}", value)
    (error,) = DagBag(dag_folder=str(DAGS / "spor_nightly.py")).import_errors.values()
    assert message in error


def test_without_the_kubernetes_client_the_option_names_the_extra(monkeypatch):
    monkeypatch.setenv("AIRFLOW__SPOR__CERTIFICATE_SECRET", "spor-certificate")
    monkeypatch.setitem(sys.modules, "kubernetes.client", None)  # import fails as if not installed
    (error,) = DagBag(dag_folder=str(DAGS / "spor_nightly.py")).import_errors.values()
    assert "install spor-airflow[kubernetes]" in error


@pytest.mark.parametrize("dag_file", ["spor_nightly.py", "spor_resend.py"])
def test_without_the_option_no_task_has_an_executor_config(monkeypatch, dag_file):
    monkeypatch.delenv("AIRFLOW__SPOR__CERTIFICATE_SECRET", raising=False)
    dag = _scheduler_dag(dag_file)
    assert {t.task_id: t.executor_config for t in dag.tasks if t.executor_config} == {}
    # and in the DAG file itself, before serialization
    (parsed,) = DagBag(dag_folder=str(DAGS / dag_file)).dags.values()
    assert [t.task_id for t in parsed.tasks if t.executor_config] == []


def test_the_resend_dag_mounts_the_certificate_in_the_same_tasks(monkeypatch):
    monkeypatch.setenv("AIRFLOW__SPOR__CERTIFICATE_SECRET", "spor-certificate")
    dag = _scheduler_dag("spor_resend.py")
    assert sorted(t.task_id for t in dag.tasks if t.executor_config) == sorted(CERTIFICATE_TASKS)
