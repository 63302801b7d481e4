"""A send task's worker killed mid-batch under LocalExecutor is retried by Airflow, and the retry
continues that batch (docs/adr/0005-crash-takeover-heartbeat-lease.md; R13: nothing lost).

The process killed is the task process that sends the batch: the child the LocalExecutor worker
("airflow worker -- LocalExecutor: …", Airflow's supervisor) forks for the task, titled
"airflow worker -- <task instance id>". It is the batch's owner (its pid is in ``spor_batch``) and
runs the sending threads and the heartbeat. SIGKILL gives it no chance to record anything: the
supervisor reports the task failed, the retry policy retries it (no run-stopping error), and the
second try claims the same batch and sends what it still owns.
"""

from __future__ import annotations

import os
import signal
import time
import uuid

import pytest

from tests.dags.test_executors_e2e import NIGHT, _stack_env

pytestmark = pytest.mark.xdist_group("airflow-stack")

THREADS = 2
KILL_AFTER = 40          # accepted answers of the batch before the kill: well inside the batch


def _kill_the_sending_task(stack, run_id: str, state_url) -> dict:
    """Wait until the batch has sent KILL_AFTER registrations, then SIGKILL its owner process."""
    import psutil
    import sqlalchemy as sa

    engine = sa.create_engine(state_url)
    deadline = time.monotonic() + 900
    try:
        while True:
            stack.check_alive()
            try:
                with engine.connect() as conn:
                    row = conn.execute(sa.text(
                        "SELECT b.id, b.owner_pid, (SELECT count(*) FROM spor.spor_ledger l WHERE l.batch_id = b.id "
                        "AND l.outcome IN ('created', 'updated')) AS accepted FROM spor.spor_batch b "
                        "WHERE b.run_id = :r AND b.finished_at IS NULL AND b.owner_pid IS NOT NULL"),
                        {"r": run_id}).first()
            except sa.exc.ProgrammingError:   # the run's first task has not created the tables yet
                row = None
            if row is not None and row.accepted >= KILL_AFTER:
                break
            if time.monotonic() > deadline:
                raise TimeoutError("the send task never got going")
            time.sleep(0.1)
        task = psutil.Process(row.owner_pid)
        title, parent = " ".join(task.cmdline()), " ".join(task.parent().cmdline())
        os.kill(row.owner_pid, signal.SIGKILL)
        task.wait(30)
        with engine.connect() as conn:
            in_flight = {n for (n,) in conn.execute(sa.text(
                "SELECT behandlingsnummer FROM spor.spor_ledger WHERE batch_id = :b AND outcome IS NULL"),
                {"b": row.id})}
            accepted = conn.execute(sa.text(
                "SELECT count(*) FROM spor.spor_ledger WHERE batch_id = :b AND outcome IN ('created', 'updated')"),
                {"b": row.id}).scalar()
        return {"batch_id": row.id, "pid": row.owner_pid, "title": title, "parent": parent,
                "in_flight": in_flight, "accepted_at_kill": accepted}
    finally:
        engine.dispose()


def test_worker_sigkill_under_local_executor_is_retried_and_the_retry_finishes_the_batch(
        tmp_path, standin_pki, airflow_db, services):
    import sqlalchemy as sa

    from devenv.distributed import run_night_on_stack

    env, manifest = _stack_env(tmp_path / "local", standin_pki)
    prefix = f"spor_k_{uuid.uuid4().hex[:6]}"
    result = run_night_on_stack(env, manifest, night=NIGHT, executor="local", prefix=prefix, latency_ms=100,
                                config={"threads_per_task": THREADS, "batches_per_run": 1},
                                spor_extra={"pool_size": THREADS}, during=_kill_the_sending_task)
    killed = result.during
    try:
        # The process killed was the task process, a child of the LocalExecutor worker.
        assert killed["title"].startswith("airflow worker -- ") and "LocalExecutor" not in killed["title"]
        assert killed["parent"].startswith("airflow worker -- LocalExecutor:")
        assert result.state == "success", f"see {env.base / 'logs'}"

        from devenv.stack import database_url

        metadata = sa.create_engine(database_url(f"{prefix}_airflow"))
        state = sa.create_engine(database_url(f"{prefix}_state"))
        with metadata.connect() as conn:
            tries = conn.execute(sa.text(
                "SELECT try_number, state FROM task_instance_history WHERE dag_id = 'spor_nightly' AND run_id = :r "
                "AND task_id = 'send_batch' ORDER BY try_number"), {"r": result.run_id}).all()
            final = conn.execute(sa.text(
                "SELECT try_number, state FROM task_instance WHERE dag_id = 'spor_nightly' AND run_id = :r "
                "AND task_id = 'send_batch'"), {"r": result.run_id}).one()
        assert [t.state for t in tries] == ["failed"] and tries[0].try_number == 1, tries   # the killed try
        assert (final.try_number, final.state) == (2, "success")                          # Airflow's retry

        with state.connect() as conn:
            batches = conn.execute(sa.text("SELECT id, owner_pid, finished_at FROM spor.spor_batch WHERE run_id = :r"),
                                   {"r": result.run_id}).all()
            accepted_by_batch = dict(conn.execute(sa.text(
                "SELECT batch_id, count(*) FROM spor.spor_ledger WHERE run_id = :r "
                "AND outcome IN ('created', 'updated') GROUP BY batch_id"), {"r": result.run_id}).all())
            left = conn.execute(sa.text("SELECT count(*) FROM spor.spor_outbox")).scalar()
        metadata.dispose()
        state.dispose()
        # The retry continued the same batch (no new one), under a new owner, to its end.
        assert [b.id for b in batches] == [killed["batch_id"]]
        assert batches[0].owner_pid != killed["pid"] and batches[0].finished_at is not None
        assert accepted_by_batch[killed["batch_id"]] > killed["accepted_at_kill"]
        assert left == 0, "registrations left waiting in the outbox"

        # Nothing lost; only what was in flight at the kill was sent twice.
        from standin.recorder import read_index

        sent: dict[str, int] = {}
        for entry in read_index(env.received):
            sent[entry["behandlingsnummer"]] = sent.get(entry["behandlingsnummer"], 0) + 1
        assert set(sent) == manifest.expected_rendered()
        twice = {n for n, k in sent.items() if k > 1}
        assert twice <= killed["in_flight"] and len(killed["in_flight"]) <= THREADS
        assert "night_not_done" not in result.summary
    finally:
        from devenv import stack as stacks

        for name in (f"{prefix}_airflow", f"{prefix}_state"):
            stacks.drop_postgres_database(name)
