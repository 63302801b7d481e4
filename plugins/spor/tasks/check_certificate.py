"""The first task of every run: is the SITHS function certificate of the SPOR connection usable?"""

from __future__ import annotations

import logging

from spor.state import runlog
from spor.tasks.context import TaskEnv, recorded

log = logging.getLogger("spor")


@recorded("check_certificate")
def check_certificate(env: TaskEnv) -> dict:
    """Checks the SITHS function certificate of the SPOR connection before anything is sent:
    fails when it is expired, not yet valid or does not match its key; warns when it expires
    within `certificate_warn_days` (default 30)."""
    from spor.state import certificates

    status = env.hook.certificate_status(now=env.clock.now(), warn_days=env.settings.certificate_warn_days)
    # Kept per environment for the status page and the certificate alert (spor.notifications.alerts).
    certificates.record(env.db, env.environment, env.spor_conn_id, status.not_after, env.run.run_id)
    if status.warning:
        log.warning("%s", status.warning)
        runlog.add(env.db, env.run.run_id, "check_certificate", runlog.INFO, status.warning,
                   {"certificate_expires": status.not_after.isoformat(), "days_left": status.days_left,
                    "environment": env.environment})
    log.info("SPOR connection: %s", env.hook.get_config().describe())
    return {"expires": status.not_after.isoformat() if getattr(status, "not_after", None) else None,
            "warning": bool(status.warning)}
