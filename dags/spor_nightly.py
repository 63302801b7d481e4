"""
### spor_nightly — tonight's OPS changes to SPOR, before 05:00

Scheduled every night at 00:30 Europe/Stockholm, one run at a time.

1. **check_certificate** – the SITHS function certificate is valid (warns 30 days before expiry).
2. **extract** – treatments changed since the last successful extraction (watermark in the state
   database, re-reading an overlap margin), through the `spor_ops` connection and `sql/extract/`.
   The opt-out filter runs here, first: blocked patients and treatments go no further (R11).
   If the block list cannot be read, the run stops and nothing is sent.
3. **quality_gate** – Great Expectations suites in `expectations/`: *reject* → quarantined,
   *warn* → sent and listed as a predicted entry on SPOR's error list.
4. **build_and_stage** – one XSD-valid registration per treatment; only what differs from SPOR's
   last final answer for this environment is staged in the outbox. The watermark advances in the
   same transaction.
5. **plan_batches** – assigns the outbox to batches (each batch owns its rows), estimates whether
   the window is long enough.
6. **wait_for_window** – a deferrable wait when a run would start inside the 05:15–06:00 blackout.
7. **send_batch** – one mapped task per batch in pool `spor`; re-reads the block list first; never
   sends after the deadline (scheduled runs) or inside the blackout (every run).
8. **summarize** – counts per state, treatments that need the team, capacity warning.

Alerts to the team (setting `alerts` in the Variable `spor_notifications`; docs/alerts.md): a failed
run, a stop, a certificate about to expire, a capacity warning, a night not done, and 05:00 passed
unfinished.

Backfill: `airflow backfill create --dag-id spor_nightly --from-date D1 --to-date Dn` sends, for each
day, the treatments whose last change falls on that day, when they differ from SPOR's last final
answer (`--dag-run-conf '{"force": true}'` sends them anyway).
"""

from __future__ import annotations

from airflow.sdk import CronTriggerTimetable, Param, dag

#: The spor-airflow versions this file was written for (DAG files and the package deploy separately).
REQUIRES_SPOR = ">=0.3,<0.4"
try:
    import spor
except ImportError as exc:  # the image lacks the package: say so instead of "No module named spor"
    raise ImportError(f"{__file__} needs the spor-airflow package {REQUIRES_SPOR} in this Airflow image") from exc
spor.require_version(REQUIRES_SPOR, __file__)

from spor.notifications.deadline import nightly_deadline
from spor.pipeline import DAG_DEFAULTS, pipeline
from spor.tasks.extract import extract_changed

SCHEDULE = CronTriggerTimetable("30 0 * * *", timezone="Europe/Stockholm")


@dag(
    dag_id="spor_nightly",
    schedule=SCHEDULE,
    doc_md=__doc__,
    **DAG_DEFAULTS,
    deadline=nightly_deadline(),  # spor_config.deadline (05:00) Stockholm after run_after, unfinished: alert
    params={
        "force": Param(False, type="boolean", description="Send even when SPOR already has this content."),
    },
)
def spor_nightly():
    pipeline(extract_changed)


spor_nightly()
