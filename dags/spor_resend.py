"""
### spor_resend — send chosen treatments again, by hand

For the team's corrections after SPOR's error list (fellista) or its report of rejected
registrations, and for the history of a unit that joins SPOR. Trigger it from the UI with the
form: either a list of treatment numbers, or a changed-date range (optionally one unit).

- **environment** – which SPOR connection to send to (stage first, R4).
- **dry_run** – build and validate only; the summary lists what would be sent.
- **force** – send even when SPOR's last final answer already holds this exact content.

Same steps, windows, ledger and block list as `spor_nightly`: blocked patients are filtered out
first, nothing is sent inside 05:15–06:00 (a run started inside the blackout waits for 06:00
without holding a worker slot).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task
from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync

from spor import dagtasks


@dag(
    dag_id="spor_resend",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="Europe/Stockholm"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["spor"],
    default_args={"retries": 0},
    params={
        "behandlingsnummer": Param(
            [], type="array", items={"type": "string"}, title="Treatment numbers",
            description="One behandlingsnummer per line. Leave empty to select by date range instead.",
        ),
        "changed_from": Param(None, type=["null", "string"], format="date", title="Changed from (date)",
                              description="First day (local) of last-changed timestamps to resend."),
        "changed_to": Param(None, type=["null", "string"], format="date", title="Changed to (date)",
                            description="Last day (inclusive)."),
        "unit": Param(None, type=["null", "string"], title="Unit (enhet)", description="Only this OPS unit."),
        "environment": Param("default", enum=["default", "stage", "stage-test-cert", "production"],
                             title="Target environment",
                             description="'default' uses the spor_default connection; others the connection configured for that environment."),
        "dry_run": Param(False, type="boolean", title="Dry run", description="Build and validate only; send nothing."),
        "force": Param(False, type="boolean", title="Force", description="Send even if SPOR already has this content."),
    },
)
def spor_resend():
    certificate = task(dagtasks.check_certificate, task_id="check_certificate", doc_md=dagtasks.check_certificate.__doc__)()
    extracted = task(dagtasks.extract_selected, task_id="extract", doc_md=dagtasks.extract_selected.__doc__)()
    gate = task(dagtasks.quality_gate, task_id="quality_gate", doc_md=dagtasks.quality_gate.__doc__)(extracted)
    staged = task(dagtasks.build_and_stage, task_id="build_and_stage", doc_md=dagtasks.build_and_stage.__doc__)(extracted, gate)
    batches = task(dagtasks.plan_batches, task_id="plan_batches", doc_md=dagtasks.plan_batches.__doc__)(staged)
    wait = DateTimeSensorAsync(
        task_id="wait_for_window",
        target_time="{{ ti.xcom_pull(task_ids='plan_batches', key='window_opens_at') }}",
        doc_md="Defers (no worker slot held) while the run would otherwise start inside 05:15-06:00.",
    )
    sent = task(
        dagtasks.send_batch, task_id="send_batch", pool="spor", map_index_template="{{ batch_label }}",
        doc_md=dagtasks.send_batch.__doc__,
    ).expand(batch=batches)
    summary = task(dagtasks.summarize, task_id="summarize", trigger_rule="all_done", doc_md=dagtasks.summarize.__doc__)()
    certificate >> extracted
    batches >> wait >> sent >> summary
    staged >> summary


spor_resend()
