"""Only workers that hold the SITHS certificate send (docs/deployment.md, "Queues"): with
``[spor] certificate_queue`` set, ``check_certificate`` and every ``send_batch`` go to that queue
and run on the Celery worker listening on it; every other task runs on the default queue's worker.
A real stack: scheduler, dag-processor, triggerer, API server, Redis, PostgreSQL, two workers."""

from __future__ import annotations

import uuid

import pytest

from standin.recorder import read_index
from tests.dags.test_executors_e2e import NIGHT, _stack_env

pytestmark = pytest.mark.xdist_group("airflow-stack")

QUEUE = "spor_certificate"


def test_certificate_tasks_run_only_on_the_worker_of_the_certificate_queue(tmp_path, standin_pki, airflow_db,
                                                                          services):
    import socket

    import sqlalchemy as sa

    from devenv import stack as stacks
    from devenv.distributed import run_night_on_stack

    env, manifest = _stack_env(tmp_path / "celery", standin_pki)
    prefix = f"spor_q_{uuid.uuid4().hex[:6]}"
    try:
        result = run_night_on_stack(env, manifest, night=NIGHT, executor="celery", workers=2, redis_db=7,
                                    prefix=prefix, pool_slots=2, worker_queues=["default", QUEUE],
                                    airflow_config={"AIRFLOW__SPOR__CERTIFICATE_QUEUE": QUEUE})
        assert result.state == "success", f"see {env.base / 'logs'}"
        # Every batch was sent by w2, the only worker on the certificate queue.
        assert set(result.batches_by_worker) == {f"w2@{socket.gethostname()}"}, result.batches_by_worker
        assert sum(map(len, result.batches_by_worker.values())) >= 2
        engine = sa.create_engine(stacks.database_url(f"{prefix}_airflow"))
        with engine.connect() as conn:
            queues = {task: set(q) for task, q in _by_task(conn.execute(sa.text(
                "SELECT task_id, queue FROM task_instance WHERE run_id = :r"), {"r": result.run_id}).all()).items()}
        engine.dispose()
        assert queues.pop("send_batch") == {QUEUE} and queues.pop("check_certificate") == {QUEUE}
        assert queues and all(q == {"default"} for q in queues.values()), queues   # w1 ran these
        assert {e["behandlingsnummer"] for e in read_index(env.received)} <= manifest.expected_rendered()
    finally:
        for name in (f"{prefix}_airflow", f"{prefix}_state"):
            stacks.drop_postgres_database(name)


def _by_task(rows) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for task, queue in rows:
        out.setdefault(task, []).append(queue)
    return out
