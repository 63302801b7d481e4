"""The first task of every run: is the SITHS function certificate of the SPOR connection usable,
and which SPOR environment does the run send to?"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from spor import metrics
from spor.state import runlog
from spor.tasks import ids
from spor.tasks.context import TaskInstance, recorded
from spor.tasks.runinfo import RunInfo

if TYPE_CHECKING:
    from spor.clock import Clock
    from spor.hooks.spor import SporHook
    from spor.settings import Settings
    from spor.state.database import StateDB

log = logging.getLogger("spor")


@recorded(ids.CHECK_CERTIFICATE)
def check_certificate(*, run: RunInfo, db: StateDB, settings: Settings, clock: Clock, hook: SporHook,
                      ti: TaskInstance) -> dict[str, object]:
    """Checks the SITHS function certificate of the SPOR connection before anything is sent:
    fails when it is expired, not yet valid or does not match its key; warns when it expires
    within `certificate_warn_days` (default 30). Passes the connection's SPOR environment on to
    the other tasks."""
    from spor.state import certificates
    from spor.transport.connection import ledger_environment

    # The label alone, checked against the endpoint's host before the certificate is opened.
    label = hook.environment_label()
    environment = ledger_environment(label)  # the ledger's key: both stage entrances are stage
    ti.xcom_push(key=ids.XCOM_ENVIRONMENT, value=environment)
    status = hook.certificate_status(now=clock.now(), warn_days=settings.certificate_warn_days)
    # Kept per label (each stage entrance has its own certificate) for the status page and the
    # certificate alert (spor.notifications.alerts).
    certificates.record(db, label, hook.spor_conn_id, status.not_after, run.run_id)
    metrics.certificate_days_left(label, status.days_left)
    if status.warning:
        log.warning("%s", status.warning)
        runlog.add(db, run.run_id, ids.CHECK_CERTIFICATE, runlog.INFO, status.warning,
                   {"certificate_expires": status.not_after.isoformat(), "days_left": status.days_left,
                    "environment": environment})
    log.info("SPOR connection: %s", hook.get_config().describe())
    return {"expires": status.not_after.isoformat() if getattr(status, "not_after", None) else None,
            "warning": bool(status.warning), "environment": environment}
