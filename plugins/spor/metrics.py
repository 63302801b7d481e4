"""The package's metrics, sent through Airflow's own (``[metrics]``: StatsD, Datadog or
OpenTelemetry, as the site configured them; Airflow adds its ``statsd_prefix``).

This module owns the names (docs/metrics.md lists each one); callers pass numbers. Plain StatsD
has no tags, so the labels are part of the name, as in Airflow's own ``dag.<dag_id>.<task_id>``
names; the same labels also go along as tags, which Airflow passes on only to backends that take
them (OpenTelemetry, Datadog, StatsD with InfluxDB tags). Labels are environments, outcomes and
wait reasons: never an identity number or a treatment number.

A metric never fails a task: a backend that cannot be loaded or raises is logged once and the
task goes on.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from datetime import timedelta

from spor import compat
from spor.pii import PERSON_ID_PATTERN

log = logging.getLogger("spor")

COUNTER, GAUGE, TIMER = "counter", "gauge", "timer"

#: Name patterns (``<label>`` is filled in) and their types: docs/metrics.md lists exactly these.
REGISTRATIONS = "spor.registrations.<environment>.<outcome>"
ANSWER_LATENCY = "spor.answer_latency.<environment>"
TRANSIENT_FAILURES = "spor.transient_failures.<environment>"
BREAKER_OPENINGS = "spor.breaker_openings.<environment>"
OUTBOX_WAITING = "spor.outbox_waiting.<environment>.<reason>"
CERTIFICATE_DAYS_LEFT = "spor.certificate_days_left.<environment>"
DEADLINE_MINUTES_LEFT = "spor.deadline_minutes_left.<environment>"

METRICS: dict[str, str] = {
    REGISTRATIONS: COUNTER,
    ANSWER_LATENCY: TIMER,
    TRANSIENT_FAILURES: COUNTER,
    BREAKER_OPENINGS: COUNTER,
    OUTBOX_WAITING: GAUGE,
    CERTIFICATE_DAYS_LEFT: GAUGE,
    DEADLINE_MINUTES_LEFT: GAUGE,
}

_PLACEHOLDER = re.compile(r"<(\w+)>")
_NOT_IN_A_LABEL = re.compile(r"[^A-Za-z0-9_-]")
#: Five digits in a row could be part of a treatment number: such a label is not sent as it is.
_DIGIT_RUN = re.compile(r"\d{5,}")
REDACTED = "redacted"

_failed = threading.Event()  # set once a failure has been logged: later ones are not


def label(value: object) -> str:
    """A label safe in a metric name: StatsD's characters only (a dot would add a level), and
    nothing that could be an identity or treatment number."""
    text = _NOT_IN_A_LABEL.sub("_", str(value)) or "none"
    if PERSON_ID_PATTERN.search(str(value)) or _DIGIT_RUN.search(text):
        return REDACTED
    return text


def name(pattern: str, **labels: object) -> str:
    """``name(REGISTRATIONS, environment="stage", outcome="created")`` → ``spor.registrations.stage.created``."""
    if pattern not in METRICS:
        raise KeyError(f"{pattern} is not one of spor.metrics.METRICS")
    return _PLACEHOLDER.sub(lambda m: label(labels[m.group(1)]), pattern)


def pattern_of(stat: str) -> str | None:
    """The pattern of METRICS a metric's name was made from, or None (not one of ours)."""
    for pattern, regex in _REGEXES.items():
        if regex.fullmatch(stat):
            return pattern
    return None


_REGEXES = {p: re.compile(_PLACEHOLDER.sub("[A-Za-z0-9_-]+", re.escape(p))) for p in METRICS}


def _emit(pattern: str, value: float | timedelta, labels: Mapping[str, object]) -> None:
    try:
        stat = name(pattern, **labels)
        tags = {k: label(v) for k, v in labels.items()}
        stats = compat.airflow_stats()
        kind = METRICS[pattern]
        if kind == TIMER:
            stats.timing(stat, value, tags=tags)
        elif kind == GAUGE:
            stats.gauge(stat, value, tags=tags)
        else:
            stats.incr(stat, value, tags=tags)
    except Exception as exc:  # noqa: BLE001 - metrics never fail a task: log the first failure, go on
        if not _failed.is_set():
            _failed.set()
            log.warning("metrics are not sent (%s: %s); the tasks go on without them (logged once)",
                        type(exc).__name__, exc)


def registrations(environment: str, by_outcome: Mapping[str, int], outcomes: Iterable[str] = ()) -> None:
    """SPOR's final answers in one send, by outcome; ``outcomes`` are sent too when zero."""
    for outcome in sorted(set(outcomes) | set(by_outcome)):
        _emit(REGISTRATIONS, by_outcome.get(outcome, 0), {"environment": environment, "outcome": outcome})


def answer_latency(environment: str, seconds: float) -> None:
    """How long SPOR took to answer one request (a final answer)."""
    _emit(ANSWER_LATENCY, timedelta(seconds=seconds), {"environment": environment})


def transient_failures(environment: str, count: int) -> None:
    _emit(TRANSIENT_FAILURES, count, {"environment": environment})


def breaker_openings(environment: str, count: int) -> None:
    _emit(BREAKER_OPENINGS, count, {"environment": environment})


def outbox_waiting(environment: str, by_reason: Mapping[str, int], reasons: Iterable[str] = ()) -> None:
    """Registrations waiting in the outbox, one gauge per reason; ``reasons`` are sent too when zero."""
    for reason in sorted(set(reasons) | set(by_reason)):
        _emit(OUTBOX_WAITING, by_reason.get(reason, 0), {"environment": environment, "reason": reason})


def certificate_days_left(environment: str, days: int) -> None:
    _emit(CERTIFICATE_DAYS_LEFT, days, {"environment": environment})


def deadline_minutes_left(environment: str, minutes: float) -> None:
    """Rounded to a tenth: a long decimal tail is noise (and could look like an identity number)."""
    _emit(DEADLINE_MINUTES_LEFT, round(minutes, 1), {"environment": environment})
