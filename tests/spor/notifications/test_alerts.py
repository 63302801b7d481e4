"""Alerts to the team, delivered to a real SMTP server: one e-mail per cause, saying what happened,
what to do and where the run is; never to UCR's address, never with an identity number."""

from __future__ import annotations

import email
import email.policy
from datetime import datetime

import pytest

from spor.notifications import alerts
from spor.notifications.deadline import first_local_time_after
from spor.notifications.setting import email_setting

SETTING = {"smtp_conn_id": "spor_smtp_test", "to": "drift@ucr.uu.se", "cc": "spor-team@sjukhus.example",
           "alerts": {"to": ["jour@sjukhus.example"]}}
IDENTITY = "19121212-1212"


def _mails(server) -> list[tuple[list[str], str, str]]:
    out = []
    for rcpt, raw in server.messages:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        body = msg.get_body(preferencelist=("html", "plain")).get_content()
        out.append((rcpt, str(msg["Subject"]), body))
    return out


def _send(summary, *, failed=False, certificate=None):
    found = alerts.alerts_for_run("spor_nightly", "scheduled__2025-12-01", summary, failed=failed, certificate=certificate)
    return alerts.send(found, email_setting(SETTING))


def test_a_stop_is_one_alert_not_also_a_failed_run(smtp_server):
    assert _send({"stops": [f"check_certificate: CertificateError: expired ({IDENTITY})"],
                  "failures": ["summarize: AirflowFailException"]}, failed=True) == 1
    ((rcpt, subject, body),) = _mails(smtp_server)
    assert rcpt == ["jour@sjukhus.example"], "alerts go to the team, never to UCR's desk"
    assert "the night stopped" in subject and "What to do" in body and "Fix the cause" in body
    assert "/dags/spor_nightly/runs/scheduled__2025-12-01" in body and "/spor/reports/spor_nightly/" in body
    assert IDENTITY not in body and "19121212" not in body


def test_a_failed_run_that_also_left_work_sends_one_alert(smtp_server):
    assert _send({"failures": ["send_batch: TransientError"], "night_not_done": {"sendable left": 40}}, failed=True) == 1
    ((_rcpt, subject, body),) = _mails(smtp_server)
    assert "the night failed" in subject and "send_batch: TransientError" in body and "night is not done" not in subject


def test_each_other_cause_is_its_own_email(smtp_server):
    summary = {"night_not_done": {"waiting": 40, "by_reason": {"transient": 40}},
               "capacity_warning": "Capacity: 9000 waiting need 300 min"}
    cert = {"environment": "production", "days_left": 12, "certificate_expires": "2026-01-13T00:00:00+00:00"}
    assert _send(summary, certificate=cert) == 3
    by_subject = {s: b for _r, s, b in _mails(smtp_server)}
    assert len(by_subject) == 3
    not_done = next(b for s, b in by_subject.items() if "not done" in s)
    assert "40 registration(s) wait in the outbox (40 transient)" in not_done and "next night" in not_done
    capacity = next(b for s, b in by_subject.items() if "does not fit" in s)
    assert "9000 waiting" in capacity and "pool" in capacity
    certificate = next(b for s, b in by_subject.items() if "certificate" in s)
    assert "expires in 12 days (2026-01-13)" in certificate and "SITHS" in certificate


def test_a_good_night_sends_nothing(smtp_server):
    assert _send({"by_state": {"created": 10}, "night_not_done": None}) == 0
    assert smtp_server.messages == []


def test_deadline_alert_says_when_and_what_to_do(smtp_server):
    alert = alerts.deadline_alert("spor_nightly", "manual__x", "2025-12-01 05:00 CET")
    assert alerts.send([alert], email_setting(SETTING)) == 1
    ((_rcpt, subject, body),) = _mails(smtp_server)
    assert "05:00 passed" in subject and "2025-12-01 05:00 CET" in body and "/dags/spor_nightly/runs/manual__x" in body


def test_any_airflow_notifier_can_carry_the_alerts(smtp_server):
    """The setting names another notifier (here the smtp provider's own, templated)."""
    setting = email_setting({"smtp_conn_id": "spor_smtp_test", "to": "drift@ucr.uu.se", "alerts": {
        "notifier": "airflow.providers.smtp.notifications.smtp.SmtpNotifier",
        "kwargs": {"smtp_conn_id": "spor_smtp_test", "to": "chat-bridge@sjukhus.example",
                   "from_email": "spor@sjukhus.example",
                   "subject": "{{ spor_alert.subject }}", "html_content": "<pre>{{ spor_alert.text }}</pre>"}}})
    found = alerts.alerts_for_run("spor_nightly", "r1", {"failures": ["extract: SourceError"]}, failed=True)
    assert alerts.send(found, setting) == 1
    ((rcpt, subject, body),) = _mails(smtp_server)
    assert rcpt == ["chat-bridge@sjukhus.example"] and "the night failed" in subject and "extract: SourceError" in body


def test_an_unknown_alerts_key_is_a_configuration_error():
    from spor.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="alerts.recipients"):
        email_setting({"smtp_conn_id": "x", "alerts": {"recipients": ["a@b"]}})


@pytest.mark.parametrize("run_after, deadline", [
    ("2025-12-01T00:30:00+01:00", "2025-12-01T04:00:00+00:00"),   # winter: 05:00 CET
    ("2025-06-01T00:30:00+02:00", "2025-06-01T03:00:00+00:00"),   # summer: 05:00 CEST
    ("2025-03-30T00:30:00+01:00", "2025-03-30T03:00:00+00:00"),   # the night clocks go forward
    ("2025-10-26T00:30:00+02:00", "2025-10-26T04:00:00+00:00"),   # the night clocks go back
    ("2025-12-01T14:00:00+01:00", "2025-12-02T04:00:00+00:00"),   # triggered by hand in the day
    ("2025-12-01T05:00:00+01:00", "2025-12-02T04:00:00+00:00"),   # exactly 05:00: the next one
])
def test_the_deadline_is_the_first_0500_stockholm_after_run_after(run_after, deadline):
    """R19: the nightly deadline is 05:00 local time, also on DST nights and for runs by hand."""
    got = first_local_time_after(datetime.fromisoformat(run_after), datetime.strptime("05:00", "%H:%M").time())
    assert got == datetime.fromisoformat(deadline)


def test_a_run_failed_only_because_the_night_is_not_done_sends_the_not_done_alert_alone(smtp_server):
    """The summarize task fails a run that leaves sendable registrations: one alert, naming why."""
    summary = {"night_not_done": {"waiting": 40, "by_reason": {"transient": 40}}}
    assert _send(summary, failed=True) == 1
    ((_rcpt, subject, body),) = _mails(smtp_server)
    assert "night is not done" in subject and "40 registration(s) wait" in body and "failed" not in subject


def test_an_alert_is_written_for_people_in_a_text_part_beside_the_html(smtp_server):
    """multipart/alternative: text/plain and text/html, the same words; no dict, no internal key;
    "run" for a resend run, "night" for the nightly."""
    summary = {"cause": "SPOR could not be reached: nothing accepted the connection at https://127.0.0.1:9",
               "night_not_done": {"waiting": 2, "by_reason": {"transient": 2}},
               "waiting": {"environment": "stage", "total": 2, "by_reason": {"transient": 2},
                           "first": {"transient": ["3000105", "3000377"]}}}
    found = alerts.alerts_for_run("spor_resend", "manual__r", summary, failed=True)
    assert alerts.send(found, email_setting(SETTING)) == 1
    ((_rcpt, raw),) = smtp_server.messages
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg.get_content_type() == "multipart/alternative"
    plain = msg.get_body(preferencelist=("plain",)).get_content()
    html = msg.get_body(preferencelist=("html",)).get_content()
    for body in (plain, html):
        assert "SPOR could not be reached" in body and "3000105" in body, body
        assert "{" not in body and "by_reason" not in body and "night_not_done" not in body, body
    assert "the run is not done" in str(msg["Subject"]) and "The run ended with work left" in plain
    assert "2 registration(s) of stage wait in the outbox (2 transient)" in plain


def test_r19_a_run_that_already_failed_gets_no_0500_alert_on_top(smtp_server, monkeypatch):
    """Airflow keeps the deadline of a failed run; its 05:00 callback must not alert a second time."""
    import json

    from spor.notifications.deadline import deadline_missed

    monkeypatch.setenv("AIRFLOW_VAR_SPOR_NOTIFICATIONS", json.dumps(SETTING))
    deadline_missed({"dag_run": {"dag_id": "spor_nightly", "run_id": "scheduled__2025-12-01", "state": "failed"},
                     "deadline": {"deadline_time": "2025-12-01T04:00:00+00:00"}})
    assert smtp_server.messages == []
    deadline_missed({"dag_run": {"dag_id": "spor_nightly", "run_id": "scheduled__2025-12-01", "state": "running"},
                     "deadline": {"deadline_time": "2025-12-01T04:00:00+00:00"}})
    ((_rcpt, subject, _body),) = _mails(smtp_server)
    assert "05:00 passed" in subject
