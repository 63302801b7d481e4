"""
### spor_resend — send chosen treatments again, by hand

For the team's corrections after SPOR's error list (fellista) or its report of rejected
registrations, and for the history of a unit that joins SPOR. Trigger it from the UI with the
form: a list of treatment numbers, a changed-date range (optionally one unit), or every
registration SPOR last rejected in the target environment (optionally only those whose answer
contains a text, e.g. "hittas inte").

- **environment** – which SPOR connection to send to (stage first, R4).
- **dry_run** – build and validate only; the summary lists what would be sent.
- **force** – send even when SPOR's last final answer already holds this exact content.
- **rejected** – select by SPOR's last answer: every registration whose last final answer in the
  environment is a rejection (ERROR), sent again although its content did not change.
- **answer_text_contains** – with `rejected`: only answers whose text contains this (any case).

Same steps, windows, ledger and block list as `spor_nightly`: blocked patients are filtered out
first, nothing is sent inside 05:15–06:00 (a run started inside the blackout waits for 06:00
without holding a worker slot).
"""

from __future__ import annotations

from airflow.sdk import Param, dag

#: The spor-airflow versions this file was written for (DAG files and the package deploy separately).
REQUIRES_SPOR = ">=0.3,<0.4"
try:
    import spor
except ImportError as exc:  # the image lacks the package: say so instead of "No module named spor"
    raise ImportError(f"{__file__} needs the spor-airflow package {REQUIRES_SPOR} in this Airflow image") from exc
spor.require_version(REQUIRES_SPOR, __file__)

from spor.pipeline import DAG_DEFAULTS, pipeline
from spor.tasks.extract import extract_selected


@dag(
    dag_id="spor_resend",
    schedule=None,
    doc_md=__doc__,
    **DAG_DEFAULTS,
    params={
        "behandlingsnummer": Param(
            # "null" in the type: Airflow's form marks a param required unless its type allows null
            [], type=["null", "array"], items={"type": "string"}, title="Treatment numbers",
            description="One behandlingsnummer per line. Leave empty to select by date range instead.",
        ),
        "changed_from": Param(None, type=["null", "string"], format="date", title="Changed from (date)",
                              description="First day (local) of last-changed timestamps to resend."),
        "changed_to": Param(None, type=["null", "string"], format="date", title="Changed to (date)",
                            description="Last day (inclusive)."),
        "unit": Param(None, type=["null", "string"], title="Unit (enhet)", description="Only this OPS unit."),
        "environment": Param("default", enum=["default", "stage", "stage-test-cert", "production"],
                             title="Target environment",
                             description="'default' uses the spor_default connection; "
                                         "others the connection configured for that environment."),
        "dry_run": Param(False, type="boolean", title="Dry run", description="Build and validate only; send nothing."),
        "force": Param(False, type="boolean", title="Force", description="Send even if SPOR already has this content."),
        "rejected": Param(False, type="boolean", title="Rejected by SPOR",
                          description="Select every registration SPOR last rejected in the target environment "
                                      "(instead of numbers or dates)."),
        "answer_text_contains": Param(None, type=["null", "string"], title="Answer text contains",
                                      description="With 'Rejected by SPOR': only answers whose text contains this."),
    },
)
def spor_resend():
    pipeline(extract_selected, dag_id="spor_resend")


spor_resend()
