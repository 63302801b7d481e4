"""Alerts to the team when a night needs a person, through an Airflow notifier.

One alert per cause, each saying what happened, what to do and where the run is:

* ``failed_run`` — the run failed (a task failed, or the summary found a failure);
* ``systemic_stop`` — the run stopped on purpose (certificate, block list, SPOR unreachable …):
  sent instead of ``failed_run``, since the stop is why the run failed;
* ``certificate`` — the SITHS function certificate expires within ``certificate_warn_days``;
* ``capacity`` — tonight's outbox will not fit in the window before 05:00;
* ``night_not_done`` — sendable registrations are left after a run that otherwise succeeded (the
  summary's ``"night_not_done"`` entry, written by the summarize task, which then fails the run); never
  together with a failed-run alert;
* ``system_id_unknown`` — SPOR refused registrations for a SystemId it does not know: one line per
  SystemId with its units and what to do (the summary's ``"refused_system_ids"`` section);
* ``deadline_missed`` — 05:00 passed with the run unfinished (:mod:`spor.notifications.deadline`).

The DAGs call :func:`on_run_failed` / :func:`on_run_succeeded` when a run ends; they read the
run's summary and events from the state database. Where alerts go is the ``alerts`` entry of the
site's one e-mail setting (:mod:`spor.notifications.setting`): e-mail through the smtp provider's
notifier by default, or any Airflow notifier. Alerts name runs, rules, counts and treatment
numbers, never an identity number (masked once more before sending).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from typing import Any

log = logging.getLogger("spor")

FAILED_RUN, SYSTEMIC_STOP, CERTIFICATE, CAPACITY, NOT_DONE, DEADLINE_MISSED = (
    "failed_run", "systemic_stop", "certificate", "capacity", "night_not_done", "deadline_missed")
SYSTEM_ID_UNKNOWN = "system_id_unknown"


@dataclass(frozen=True)
class Alert:
    cause: str
    dag_id: str
    run_id: str
    what: str
    todo: str
    headline: str

    @property
    def subject(self) -> str:
        return f"SPOR alert: {self.headline} ({self.dag_id} {self.run_id})"

    def text(self, run_url: str, report_url: str) -> str:
        return (f"What happened\n{self.what}\n\nWhat to do\n{self.todo}\n\n"
                f"The run: {run_url}\nIts summary: {report_url}\n\n"
                "(this alert names no personal identity number)")

    def html(self, run_url: str, report_url: str) -> str:
        """The same alert as the e-mail's HTML part (the text part is :meth:`text`)."""
        def paragraphs(text: str) -> str:
            return "".join(f"<p>{escape(p).replace(chr(10), '<br>')}</p>" for p in text.split("\n\n"))

        return (f"<html><body><h3>What happened</h3>{paragraphs(self.what)}<h3>What to do</h3>{paragraphs(self.todo)}"
                f"<p><a href=\"{escape(run_url)}\">The run</a> · <a href=\"{escape(report_url)}\">Its summary</a></p>"
                "<p><small>This alert names no personal identity number.</small></p></body></html>")

    @property
    def noun(self) -> str:
        from spor.state.summary import run_noun

        return run_noun(self.dag_id)


def _waiting_text(summary: Mapping[str, Any]) -> str:
    """What waits, by reason, each with what to do (empty when nothing waits)."""
    from spor.state.summary import waiting_of
    from spor.state.waiting import ACTION

    left = waiting_of(summary)
    if not left:
        return ""
    lines = [f"{left.in_words()[0].upper()}{left.in_words()[1:]}:"]
    for reason, n in sorted(left.by_reason.items(), key=lambda kv: -kv[1]):
        first = left.first.get(reason, [])[:5]
        numbers = f" (first: {', '.join(first)}{' …' if n > len(first) else ''})" if first else ""
        lines.append(f"- {n:,} {reason}{numbers}: {ACTION.get(reason, 'the next run sends them')}")
    return "\n".join(lines)


def _refused_text(groups: list[Mapping[str, Any]]) -> str:
    """One line per SystemId SPOR refused: its units, how many, what to do, the first numbers."""
    lines = ["SPOR refused registrations because it does not know their unit's SystemId (configuration, "
             "not the data):"]
    for g in groups:
        units = f" (unit {', '.join(g.get('units') or [])})" if g.get("units") else ""
        first = list(g.get("behandlingsnummer") or [])[:5]
        probe = g.get("probe")
        again = "; tonight's probe was refused again" if probe and not probe.get("known") else ""
        lines.append(f"- SystemId {g['system_id']}{units}: {int(g['count']):,} registration(s){again} "
                     f"(first: {', '.join(first)}{' …' if int(g['count']) > len(first) else ''}): {g['action']}")
    return "\n".join(lines)


def alerts_for_run(dag_id: str, run_id: str, summary: Mapping[str, Any] | None, *, failed: bool,
                   reason: str | None = None, certificate: Mapping[str, Any] | None = None) -> list[Alert]:
    """The alerts a finished run calls for, at most one per cause. ``certificate``: the data of the
    run's certificate warning event (``environment``, ``days_left``, ``certificate_expires``)."""
    from spor.state.summary import cause_of, run_noun

    summary = summary or {}
    noun = run_noun(dag_id)
    alerts: list[Alert] = []
    stops, failures = list(summary.get("stops") or []), list(summary.get("failures") or [])
    found = cause_of(summary)
    why = f" Why: {found.rstrip('.')}." if found else "."
    left = _waiting_text(summary)
    waits = f"\n\n{left}" if left else ""
    if stops:
        alerts.append(Alert(SYSTEMIC_STOP, dag_id, run_id, headline=f"the {noun} stopped",
                            what=f"The {noun} stopped before it was done.{why}\n\n"
                                 "Nothing was sent after the stop; what was staged waits in the outbox." + waits,
                            todo="Fix the cause named above (certificate, block list, SPOR connection). "
                                 "The outbox keeps everything: the next night sends it, or trigger spor_nightly "
                                 "again once the cause is fixed (never between 05:15 and 06:00)."))
    elif summary.get("night_not_done") and not failures:
        # The summarize task fails a run that leaves sendable registrations: one alert, this one.
        alerts.append(Alert(NOT_DONE, dag_id, run_id, headline=f"the {noun} is not done",
                            what=f"The {noun} ended with work left.{why}" + waits,
                            todo="Fix the cause named above if there is one; the next night sends what is left, "
                                 "oldest first. If this repeats, look at the capacity and the transient failures in "
                                 "the summary, and at SPOR's availability."))
    elif failed or failures:
        what = (f"The {noun} failed.{why}" if failures
                else f"The {noun} failed ({reason or 'a task failed'}) before its summary named the cause.")
        alerts.append(Alert(FAILED_RUN, dag_id, run_id, headline=f"the {noun} failed", what=what + waits,
                            todo="Open the run, read the log of the failed task and fix the cause; then clear "
                                 "the failed task. Registrations not sent wait in the outbox for the next night."))
    if summary.get("capacity_warning"):
        from spor.state.summary import capacity_in_words

        cap = summary.get("capacity")
        alerts.append(Alert(CAPACITY, dag_id, run_id, headline="tonight does not fit before 05:00",
                            what=(f"Tonight's work {capacity_in_words(cap)}.\n\n" if cap else "") + str(summary["capacity_warning"]),
                            todo="Raise the slots of the 'spor' pool or threads_per_task in spor_config, or accept "
                                 "that the rest is sent the next night (oldest first)."))
    refused = (summary.get("refused_system_ids") or {}).get("by_system_id") or []
    if refused and not stops:  # a run stopped by these refusals already has its one alert
        alerts.append(Alert(SYSTEM_ID_UNKNOWN, dag_id, run_id, headline="SPOR does not know a unit's SystemId",
                            what=_refused_text(refused),
                            todo="Ask UCR (drift@ucr.uu.se) to register the SystemId, or correct spor_units if the "
                                 "unit is mapped to the wrong one. Nothing else is needed: every night one "
                                 "registration of the unit is sent as a probe, and once SPOR accepts it the rest "
                                 "are sent the same night."))
    if certificate:
        alerts.append(Alert(CERTIFICATE, dag_id, run_id, headline="the SPOR certificate expires soon",
                            what=(f"The SITHS function certificate for SPOR {certificate.get('environment', '?')} "
                                  f"expires in {certificate.get('days_left', '?')} days "
                                  f"({str(certificate.get('certificate_expires', '?'))[:10]})."),
                            todo="Order a new SITHS function certificate from the local SITHS administration and "
                                 "put it in the SPOR connection before it expires: from then on no run can send."))
    return alerts


def deadline_alert(dag_id: str, run_id: str, deadline: str) -> Alert:
    return Alert(DEADLINE_MISSED, dag_id, run_id, headline="05:00 passed with the run unfinished",
                 what=(f"The run was still running at its deadline {deadline}. Nothing is sent after 05:00 "
                       "(and never 05:15-06:00); what was not sent waits in the outbox."),
                 todo="Open the run and see which task is still running or waiting (send_batch, "
                      "wait_for_window). What is left goes the next night; if this repeats, raise the "
                      "capacity or start the night earlier.")


# --- sending ---------------------------------------------------------------------------------
def send(alerts: list[Alert], setting: Any = None) -> int:
    """Send each alert through the configured notifier; returns how many went out. Without an
    alerts setting (or a recipient), log that nothing was sent rather than fail the run."""
    from spor import links
    from spor.pii import mask_person_ids

    if not alerts:
        return 0
    if setting is None:
        from spor.notifications.setting import email_setting_from_airflow

        setting = email_setting_from_airflow()
    config = (setting.alerts or {}) if setting is not None else {}
    sent = 0
    for alert in alerts:
        run_url, report_url = links.run_url(alert.dag_id, alert.run_id), links.report_url(alert.dag_id, alert.run_id, "summary")
        text = mask_person_ids(alert.text(run_url, report_url))
        subject = mask_person_ids(alert.subject)
        if config.get("notifier"):
            _custom(config, alert, subject, text)
        else:
            to = tuple(config.get("to") or ()) or (tuple(setting.cc) if setting is not None else ())
            if setting is None or not to:
                log.warning("SPOR alert not sent (no 'alerts' recipient in spor_notifications): %s", subject)
                continue
            from dataclasses import replace

            from spor.notifications.mail import SporEmailNotifier

            # Only the alert recipients: the setting's cc is for the removal e-mails to UCR.
            SporEmailNotifier(setting=replace(setting, to=to, cc=())).send(
                subject, text, html=mask_person_ids(alert.html(run_url, report_url)))
        log.info("SPOR alert sent: %s", subject)
        sent += 1
    return sent


def _custom(config: Mapping[str, Any], alert: Alert, subject: str, text: str) -> None:
    """Any Airflow notifier: built from its class path and arguments, its templates rendered with
    ``spor_alert`` (cause, subject, text) in the context."""
    from airflow.sdk.module_loading import import_string

    notifier = import_string(config["notifier"])(**(config.get("kwargs") or {}))
    notifier({"spor_alert": {"cause": alert.cause, "subject": subject, "text": text},
              "dag_id": alert.dag_id, "run_id": alert.run_id})


# --- DAG callbacks -----------------------------------------------------------------------------
def _run_finished(context: Mapping[str, Any], *, failed: bool) -> None:
    from spor.hooks.state import state_db
    from spor.state import run_summary, runlog

    dag_id, run_id = context["dag"].dag_id, context["run_id"]
    try:
        db = state_db(migrate=False)
        try:
            summary = run_summary.load(db, dag_id, run_id)
            cert = next((e.data for e in runlog.events(db, run_id, runlog.INFO)
                         if e.task == "check_certificate" and e.data and "certificate_expires" in e.data), None)
        finally:
            db.dispose()
    except Exception as exc:  # noqa: BLE001 - a failed run must still be told about
        log.warning("the run's summary could not be read for its alerts: %s", type(exc).__name__)
        summary, cert = None, None
    send(alerts_for_run(dag_id, run_id, summary, failed=failed, reason=context.get("reason"), certificate=cert))


def on_run_failed(context: Mapping[str, Any]) -> None:
    """``on_failure_callback`` of the SPOR DAGs."""
    _run_finished(context, failed=True)


def on_run_succeeded(context: Mapping[str, Any]) -> None:
    """``on_success_callback`` of the SPOR DAGs: a run can succeed and still need the team."""
    _run_finished(context, failed=False)
