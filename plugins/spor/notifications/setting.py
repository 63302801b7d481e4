"""The site's notification setting, shared by every notifier this package builds.

One Airflow Variable, ``spor_notifications``, holds JSON such as ``{"smtp_conn_id":
"smtp_default", "to": ["drift@ucr.uu.se"], "cc": ["spor-team@sjukhus.example"], "from_email":
"spor@sjukhus.example"}``: the Airflow SMTP connection to send through (required) and the default
addresses. ``to`` and ``cc`` may be one address or a list; ``from_email`` may instead come from the
connection's extra. Any other key is a configuration error, so a typo is not silently ignored.
An empty or missing Variable means no e-mail is sent.

The same Variable configures the team's alerts (:mod:`spor.notifications.alerts`, docs/alerts.md)
under ``alerts``: ``{"to": ["spor-team@sjukhus.example"]}`` sends them by e-mail through the same
connection (without ``to`` they go to ``cc``, never to UCR's ``to``); ``{"notifier": "airflow.providers.
slack.notifications.slack.SlackNotifier", "kwargs": {"slack_conn_id": "slack", "channel": "#spor", "text":
"{{ spor_alert.text }}"}}`` sends them through any Airflow notifier instead (its templated fields see
``spor_alert``).

Up to 0.3 the Variable was called ``spor_removal_notifier``. That name still works when
``spor_notifications`` is not set, with a warning logged once per process and a note in the run
summary (the setting's ``variable`` names where it was read).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

__all__ = ["DEPRECATED_NOTIFIER_VARIABLE", "NOTIFIER_VARIABLE", "EmailSetting", "deprecation_note", "email_setting",
           "email_setting_from_airflow", "read_under_old_name"]

NOTIFIER_VARIABLE = "spor_notifications"
#: The Variable's name up to 0.3: read when the new one is not set.
DEPRECATED_NOTIFIER_VARIABLE = "spor_removal_notifier"

log = logging.getLogger("spor")
_deprecated_name_logged = False
_KEYS = frozenset({"smtp_conn_id", "to", "cc", "from_email", "alerts"})
_ALERT_KEYS = frozenset({"to", "notifier", "kwargs"})


@dataclass(frozen=True)
class EmailSetting:
    """Where e-mail goes: the Airflow SMTP connection, the default recipients and the sender."""

    smtp_conn_id: str
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    from_email: str | None = None
    alerts: dict[str, Any] | None = None   # {"to": ...} or {"notifier": "module.Class", "kwargs": {...}}
    variable: str = NOTIFIER_VARIABLE       # the Variable it was read from (the old name: a note in the summary)


def _addresses(value: Any) -> tuple[str, ...]:
    return tuple([value] if isinstance(value, str) else (value or ()))


def email_setting(config: Any, *, variable: str = NOTIFIER_VARIABLE) -> EmailSetting | None:
    """The setting from the Variable's value (JSON text or an already decoded dict); None when empty.

    Raises ``ConfigurationError`` naming the Variable when ``smtp_conn_id`` is missing or a key is
    unknown."""
    if not config:
        return None
    if isinstance(config, str):
        config = json.loads(config)
    from spor.errors import ConfigurationError

    unknown = (set(config) - _KEYS) | {f"alerts.{k}" for k in set(config.get("alerts") or {}) - _ALERT_KEYS}
    if unknown or not config.get("smtp_conn_id"):
        raise ConfigurationError(f"{variable}: needs smtp_conn_id; unknown keys {sorted(unknown)}")
    alerts = dict(config["alerts"]) if config.get("alerts") else None
    if alerts and "to" in alerts:
        alerts["to"] = _addresses(alerts["to"])
    return EmailSetting(smtp_conn_id=config["smtp_conn_id"], to=_addresses(config.get("to")),
                        cc=_addresses(config.get("cc")), from_email=config.get("from_email"), alerts=alerts,
                        variable=variable)


def email_setting_from_airflow(variable: str = NOTIFIER_VARIABLE) -> EmailSetting | None:
    """The setting the team stored in the Airflow Variable, or None when it is not set. The
    Variable ``spor_notifications`` not set, its old name ``spor_removal_notifier`` is read."""
    from airflow.sdk import Variable

    value = Variable.get(variable, default=None)
    if not value and variable == NOTIFIER_VARIABLE:
        value = Variable.get(DEPRECATED_NOTIFIER_VARIABLE, default=None)
        if value:
            _note_deprecated_name()
            variable = DEPRECATED_NOTIFIER_VARIABLE
    return email_setting(value, variable=variable)


def deprecation_note() -> str:
    """What the log and the run summary say when the setting is read under its old name."""
    return (f"the Airflow Variable {DEPRECATED_NOTIFIER_VARIABLE} is read under its old name: "
            f"rename it to {NOTIFIER_VARIABLE} (same JSON; docs/alerts.md)")


def _note_deprecated_name() -> None:
    global _deprecated_name_logged
    if not _deprecated_name_logged:  # once per process, not once per e-mail
        log.warning("%s", deprecation_note())
    _deprecated_name_logged = True


def read_under_old_name(setting: EmailSetting | None) -> bool:
    """Whether ``setting`` came from the Variable's old name ``spor_removal_notifier``."""
    return setting is not None and setting.variable == DEPRECATED_NOTIFIER_VARIABLE
