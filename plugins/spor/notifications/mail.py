"""E-mail through the site's SMTP connection, as an Airflow notifier.

:class:`SporEmailNotifier` is the smtp provider's ``SmtpNotifier`` (so a ``BaseNotifier``) whose
connection, default recipients and sender come from the site's one e-mail setting (the Variable
``spor_notifications``, see :mod:`spor.notifications.setting`). It serves two uses:

* our code sends one composed message now: ``notifier.send(subject, text)``, as the nightly removal
  step does for each request to UCR. The text is sent as written, never as a template;
* Airflow calls it as a callback, e.g. ``on_failure_callback=SporEmailNotifier(to="spor-team@...",
  subject="SPOR {{ ti.dag_id }}.{{ ti.task_id }} failed")``. Nothing is read when the DAG is
  parsed: the Variable is read when the notifier sends. An alert should name its own ``to``; the
  Variable's ``to`` is normally UCR's operations desk.

Whatever a callback renders from the task context (exception texts, parameters) has everything
shaped like a personal identity number masked before it is sent.

This module imports the smtp provider: import it inside the function that sends.
"""

from __future__ import annotations

import copy
import smtplib
from collections.abc import Iterable
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate
from html import escape
from typing import TYPE_CHECKING, Any, cast

from airflow.providers.smtp.notifications.smtp import SmtpNotifier

from spor.notifications.setting import NOTIFIER_VARIABLE, EmailSetting, email_setting_from_airflow
from spor.pii import mask_person_ids

if TYPE_CHECKING:
    from airflow.providers.smtp.hooks.smtp import SmtpHook
    from airflow.sdk.definitions.context import Context

__all__ = ["SporEmailNotifier"]


def _listed(addresses: str | Iterable[str] | None) -> tuple[str, ...]:
    if not addresses:
        return ()
    return (addresses,) if isinstance(addresses, str) else tuple(addresses)


def _alternative(smtp: SmtpHook, message: SporEmailNotifier, text: str) -> tuple[MIMEMultipart, list[str]]:
    """The message as multipart/alternative (plain text first, then HTML), and its recipients."""
    to = smtp._get_email_address_list(message.to)
    cc = smtp._get_email_address_list(message.cc) if message.cc else []
    bcc = smtp._get_email_address_list(message.bcc) if message.bcc else []
    mime = MIMEMultipart("alternative")
    mime["Subject"] = str(message.subject)
    sender = message.from_email or smtp.from_email
    if not sender:
        from spor.errors import ConfigurationError

        raise ConfigurationError("no sender: set from_email in spor_notifications or in the SMTP connection")
    mime["From"] = str(sender)
    mime["To"] = ", ".join(to)
    if cc:
        mime["CC"] = ", ".join(cc)
    mime["Date"] = formatdate(localtime=True)
    for key, value in (message.custom_headers or {}).items():
        mime[key] = value
    mime.attach(MIMEText(text, "plain", "utf-8"))
    mime.attach(MIMEText(str(message.html_content), "html", "utf-8"))
    return mime, to + cc + bcc


class SporEmailNotifier(SmtpNotifier):
    """An ``SmtpNotifier`` configured by the site's e-mail setting.

    ``setting`` given: use it. Not given: read the Variable ``variable`` when the first e-mail goes.
    What the caller passes (``to``, ``cc``, ``from_email``, ``smtp_conn_id``) wins over the setting;
    the setting fills the rest. Other keyword arguments go to ``SmtpNotifier`` (``bcc``, ``files``,
    ``custom_headers``, ...).
    """

    def __init__(self, *, setting: EmailSetting | None = None, variable: str = NOTIFIER_VARIABLE,
                 to: str | Iterable[str] | None = None, cc: str | Iterable[str] | None = None,
                 from_email: str | None = None, subject: str | None = None, html_content: str | None = None,
                 smtp_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(to=to or (), cc=cc, from_email=from_email, subject=subject, html_content=html_content,
                         smtp_conn_id=smtp_conn_id, **kwargs)
        self.variable = variable
        self.setting: EmailSetting | None = None
        self._own_conn = smtp_conn_id is not None
        self._verbatim = False
        if setting is not None:
            self._use(setting)

    # --- configuration ----------------------------------------------------------------------
    def _use(self, setting: EmailSetting) -> None:
        self.setting = setting
        if not self._own_conn:
            self.smtp_conn_id = setting.smtp_conn_id
        self.to = self.to or setting.to
        self.cc = self.cc or setting.cc or None
        self.from_email = self.from_email or setting.from_email

    def _resolve(self) -> None:
        from spor.errors import ConfigurationError

        if self.setting is None:
            setting = email_setting_from_airflow(self.variable)
            if setting is None:
                raise ConfigurationError(f"{self.variable} is not set: no SMTP connection to send e-mail through")
            self._use(setting)
        if not self.to:
            raise ConfigurationError(f"{self.variable}: no recipient (to) for this e-mail")

    # --- sending ----------------------------------------------------------------------------
    def send(self, subject: str, text: str, html: str | None = None) -> str:
        """E-mail one composed message now; returns its recipients (to, then cc) as one line.
        Raises when the server did not take it.

        The message is multipart/alternative: ``text`` as the text/plain part, and ``html`` (or the
        text HTML-escaped in ``<pre>``) as the text/html part. The smtp provider's hook builds HTML
        only, so the message is built here and goes over the hook's own SMTP connection. Nothing is
        rendered as a template: OPS free text with braces stays as it was typed."""
        self._resolve()
        message = copy.copy(self)
        message.__dict__.pop("hook", None)  # its own SMTP session, not one cached on this notifier
        message.subject, message.html_content = subject, html or f"<pre>{escape(text)}</pre>"
        message._verbatim = True
        with message.hook as smtp:
            message._build_email_content(smtp, {})  # a composed message reads no context
            mime, recipients = _alternative(smtp, message, text)
            # The hook's synchronous connection (its ``with`` opens smtplib's, never aiosmtplib's).
            client = cast("smtplib.SMTP_SSL | smtplib.SMTP | None", smtp._smtp_client)
            if client is None:
                raise RuntimeError("the SMTP connection did not open")
            for attempt in range(smtp.smtp_retry_limit + 1):  # as the hook retries its own e-mails
                try:
                    client.sendmail(from_addr=mime["From"], to_addrs=recipients, msg=mime.as_string())
                    break
                except Exception:
                    if attempt == smtp.smtp_retry_limit:
                        raise
        return ", ".join(_listed(self.to) + _listed(self.cc))

    def notify(self, context: Context) -> None:
        self._resolve()
        super().notify(context)

    async def async_notify(self, context: Context) -> None:
        self._resolve()
        await super().async_notify(context)

    # --- no identity numbers in what a callback renders -------------------------------------
    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        super().render_template_fields(context, jinja_env)
        self._mask_identity()

    def _build_email_content(self, smtp: SmtpHook, context: Context) -> None:
        # The provider fills a missing subject or body from the connection's or its own templates.
        super()._build_email_content(smtp, context)
        self._mask_identity()

    def _mask_identity(self) -> None:
        # A composed message (send) is free of identity numbers by construction, and masking it
        # could hide a treatment number of identity shape that UCR needs.
        if self._verbatim:
            return
        for name in ("subject", "html_content"):
            value = getattr(self, name)
            if isinstance(value, str):
                setattr(self, name, mask_person_ids(value))
