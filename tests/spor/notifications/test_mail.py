"""SporEmailNotifier: an Airflow BaseNotifier (the smtp provider's SmtpNotifier) configured by the
site's one e-mail setting, the Variable ``spor_notifications``. Used directly to send a composed
text, and as a callback whose rendered e-mail never carries an identity number. Delivery goes to a
real SMTP server on a local port."""

from __future__ import annotations

import email
from email import policy

import pytest

from spor.errors import ConfigurationError
from spor.notifications.setting import NOTIFIER_VARIABLE, EmailSetting, email_setting
from spor.pii import MASK, PERSON_ID_PATTERN

PATIENT = "197010632391"   # Skatteverket's published samordningsnummer example, not a person's
SETTING = '{"smtp_conn_id": "spor_smtp_test", "to": "drift@ucr.uu.se", "cc": ["spor-team@sjukhus.example"]}'


def _received(server) -> tuple[list[str], email.message.EmailMessage, str, str]:
    (rcpt, data), = server.messages
    msg = email.message_from_bytes(data, policy=policy.default)
    body = next(p for p in msg.walk() if p.get_content_type() == "text/html").get_content()
    return rcpt, msg, body, data.decode("utf-8", "replace")


def test_the_notifier_is_an_airflow_base_notifier_built_on_the_providers_smtp_notifier():
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier
    from airflow.sdk import BaseNotifier

    from spor.notifications.mail import SporEmailNotifier

    assert issubclass(SporEmailNotifier, BaseNotifier) and issubclass(SporEmailNotifier, SmtpNotifier)
    n = SporEmailNotifier(setting=EmailSetting("spor_smtp_test", to=("a@sjukhus.example",)), cc="b@sjukhus.example")
    assert (n.smtp_conn_id, n.to, n.cc) == ("spor_smtp_test", ("a@sjukhus.example",), "b@sjukhus.example")


def test_as_a_callback_it_reads_the_setting_when_it_sends_and_renders_no_identity_number(smtp_server, monkeypatch):
    """Built at DAG parse time without touching the Variable; when Airflow calls it, the subject
    and body rendered from the context (here an exception naming a patient) are masked, and the
    alert goes to its own `to` through the setting's connection and sender."""
    from spor.notifications.mail import SporEmailNotifier

    monkeypatch.delenv(f"AIRFLOW_VAR_{NOTIFIER_VARIABLE.upper()}", raising=False)
    alert = SporEmailNotifier(to="spor-larm@sjukhus.example", subject="SPOR {{ dag_id }} failed: {{ exception }}",
                              html_content="<p>{{ exception }}</p><p>patient {{ params.pnr }}</p>")
    context = {"dag_id": "spor_nightly", "exception": ValueError(f"row for {PATIENT} could not be built"),
               "params": {"pnr": "19701063-2391"}}
    with pytest.raises(ConfigurationError, match=NOTIFIER_VARIABLE):
        alert(dict(context))  # no setting: nothing to send through, said plainly
    assert smtp_server.messages == []

    rendered = SporEmailNotifier(subject="{{ exception }}", html_content="{{ params.pnr }}")
    rendered.render_template_fields(dict(context))
    assert rendered.subject == f"row for {MASK} could not be built" and rendered.html_content == MASK

    monkeypatch.setenv(f"AIRFLOW_VAR_{NOTIFIER_VARIABLE.upper()}", SETTING)
    alert = SporEmailNotifier(to="spor-larm@sjukhus.example", subject="SPOR {{ dag_id }} failed: {{ exception }}",
                              html_content="<p>{{ exception }}</p><p>patient {{ params.pnr }}</p>")
    alert(dict(context))
    rcpt, msg, body, raw = _received(smtp_server)
    assert rcpt == ["spor-larm@sjukhus.example", "spor-team@sjukhus.example"]  # its own to, the setting's cc
    assert str(msg["From"]) == "spor@sjukhus.example"  # from the connection's extra
    assert str(msg["Subject"]) == f"SPOR spor_nightly failed: row for {MASK} could not be built"
    assert f"patient {MASK}" in body
    for text in (raw, body, str(msg["Subject"])):
        assert not PERSON_ID_PATTERN.search(text) and PATIENT not in text


def test_send_delivers_a_composed_text_as_written_not_as_a_template(smtp_server):
    from spor.notifications.mail import SporEmailNotifier

    n = SporEmailNotifier(setting=email_setting(SETTING))
    to = n.send("Ämne {{ x }}", "Rad ett <b>\nRad två {{ ti.task_id }}\n")
    assert to == "drift@ucr.uu.se, spor-team@sjukhus.example"
    rcpt, msg, body, _raw = _received(smtp_server)
    assert rcpt == ["drift@ucr.uu.se", "spor-team@sjukhus.example"]
    assert str(msg["Subject"]) == "Ämne {{ x }}"
    assert body == "<pre>Rad ett &lt;b&gt;\nRad två {{ ti.task_id }}\n</pre>"
    assert n.subject is None and n.html_content is None, "sending one message leaves the notifier as it was"
    n.send("second", "text")
    assert len(smtp_server.messages) == 2


def test_the_setting_is_checked_and_names_the_variable():
    assert email_setting(None) is None and email_setting("") is None
    with pytest.raises(ConfigurationError, match=f"{NOTIFIER_VARIABLE}: needs smtp_conn_id"):
        email_setting({"to": ["drift@ucr.uu.se"]})
    with pytest.raises(ConfigurationError, match=r"unknown keys \['recipient'\]"):
        email_setting({"smtp_conn_id": "x", "recipient": "a@b"})
    assert email_setting('{"smtp_conn_id": "x", "to": "a@b", "from_email": "s@b"}') == EmailSetting(
        "x", to=("a@b",), cc=(), from_email="s@b")
