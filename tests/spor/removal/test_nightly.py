"""The nightly removal step delivers raised requests through the notifier configured in the
Variable ``spor_notifications``, to a real SMTP server: marked sent only after the server took
it, a failure stays raised and goes the next night, a sent request is not e-mailed again, and no
identity number is e-mailed. State parts on SQLite and PostgreSQL (``state_db``)."""

from __future__ import annotations

import pytest

from spor.removal import nightly, store
from tests.spor.removal.removal_fixtures import PATIENT, PROD, accept, no_identity


def test_r11_delivery_by_airflow_smtp_connection_marks_sent_and_a_failure_stays_raised(state_db, ops, smtp_server,
                                                                                      monkeypatch):
    """The request is e-mailed through the Airflow SMTP connection named in the Variable; it is
    marked sent only after the server took it; when the server is down it stays raised and goes
    the next night."""
    import email
    from email import policy

    ops.treatment("9001", PATIENT)
    ops.treatment("9002", PATIENT)
    accept(state_db, PROD, "9001", "9002")
    ops.block(21, PATIENT)
    monkeypatch.setenv("AIRFLOW_VAR_SPOR_NOTIFICATIONS",
                       '{"smtp_conn_id": "spor_smtp_test", "to": ["drift@ucr.uu.se"], "cc": ["spor-team@sjukhus.example"]}')
    notifier = nightly.notifier_from_airflow()
    assert notifier is not None

    # the server is down first: nothing is marked sent
    monkeypatch.setenv("AIRFLOW_CONN_SPOR_SMTP_DOWN", '{"conn_type": "smtp", "host": "127.0.0.1", "port": 9, '
                       '"extra": {"disable_tls": true, "disable_ssl": true, "from_email": "x@y.example", "retry_limit": 0, "timeout": 2}}')
    down = nightly.notifier_from_config({"smtp_conn_id": "spor_smtp_down"})
    counts = nightly.nightly_step(state_db, ops.reader, run_id="n1", notifier=down)
    assert counts["raised"] == 1 and counts["failed"] == 1 and counts["sent"] == 0
    (r,) = store.list_requests(state_db, status="raised")

    counts = nightly.nightly_step(state_db, ops.reader, run_id="n2", notifier=notifier)
    assert counts["raised"] == 0 and counts["sent"] == 1
    assert store.get(state_db, r.id).status == "sent"
    assert "drift@ucr.uu.se" in store.get(state_db, r.id).sent_to
    (rcpt, data), = smtp_server.messages
    assert rcpt == ["drift@ucr.uu.se", "spor-team@sjukhus.example"]
    msg = email.message_from_bytes(data, policy=policy.default)
    assert f"begäran {r.id}" in str(msg["Subject"])
    body = next(p for p in msg.walk() if p.get_content_type() == "text/html").get_content()
    assert "9001, 9002" in body and "ALLA patientens registreringar" in body
    no_identity(data.decode("utf-8", "replace") + body)
    assert nightly.nightly_step(state_db, ops.reader, run_id="n3", notifier=notifier)["sent"] == 0
    assert len(smtp_server.messages) == 1, "a sent request is not e-mailed again"


def test_notifier_configuration_is_checked():
    from spor.errors import ConfigurationError

    assert nightly.notifier_from_config(None) is None and nightly.notifier_from_config("") is None
    with pytest.raises(ConfigurationError):
        nightly.notifier_from_config({"to": ["drift@ucr.uu.se"]})
    with pytest.raises(ConfigurationError):
        nightly.notifier_from_config({"smtp_conn_id": "x", "recipient": "a@b"})
    n = nightly.notifier_from_config('{"smtp_conn_id": "x"}')
    assert n.to == ("drift@ucr.uu.se",)
