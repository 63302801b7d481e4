"""Why a run's sending stopped or gave up, as one short sentence an operator can act on.

The send side knows how it ended (spor.send.batch.BatchResult: stopped "unavailable", "deadline",
"blackout", or rows left ``transient`` after their last try) and what the last failed request
said (our own TransientError texts: refused, reset, timeout, HTTP 5xx). A run-stopping error
(certificate, systemic) is its own cause. Each run records one cause, the first, as a run event
of kind ``cause`` (spor.state.runlog.CAUSE): the summary's first line, the alert and the status
page show it. Counts, endpoints and TLS reasons only, never personal data.
"""

from __future__ import annotations

import re

from spor.state import runlog
from spor.state.database import StateDB

#: Our TransientError texts (spor.transport) → what they mean for the run.
_TRANSIENT = (
    (re.compile(r"refused the connection"), "SPOR could not be reached: nothing accepted the connection{at}"),
    (re.compile(r"no connection to SPOR within ([\d.]+) s"), "SPOR could not be reached: no connection{at} within {0} s"),
    (re.compile(r"dropped without an answer|broke off"),
     "SPOR could not be reached: every connection{at} was reset or closed without an answer"),
    (re.compile(r"no answer from SPOR within ([\d.]+) s"), "SPOR did not answer{at} within {0} s"),
    (re.compile(r"answered HTTP (\d{3})"), "SPOR answered HTTP {0} (temporarily unavailable){at}"),
    (re.compile(r"HTTP (5\d\d) without a SOAP fault|service failed \(SOAP fault [^)]*HTTP (5\d\d)\)"),
     "SPOR's service failed with HTTP {0}{at}"),
)
#: "NR: text" — the behandlingsnummer in front of a TransientError's text.
_NUMBER_PREFIX = re.compile(r"^[^:\s]+:\s+")


def transient(detail: str | None, endpoint: str | None = None) -> str:
    """The sentence for a transient failure's text (the last one a batch saw)."""
    at = f" at {endpoint}" if endpoint else ""
    text = _NUMBER_PREFIX.sub("", detail or "", count=1)
    for pattern, sentence in _TRANSIENT:
        found = pattern.search(text)
        if found:
            groups = [g for g in found.groups() if g] or [""]
            return sentence.format(*groups, at=at)
    return f"SPOR could not be reached{at}" + (f" ({text})" if text else "")


def of_batch(stopped: str | None, waiting_by_reason: dict[str, int], *, attempted: int = 0,
             last_failure: str | None = None, endpoint: str | None = None,
             give_up_after_s: float | None = None) -> str | None:
    """The cause of a batch that left registrations waiting, or None when it left none (or was
    taken over: the taker tells)."""
    waiting = sum(waiting_by_reason.values())
    if not waiting or stopped in ("taken_over", "certificate", "systemic", "error"):
        return None  # run-stopping errors are recorded from the error itself (of_stop)
    # No count of what waits here: the one count is spor.state.waiting's, shown beside the cause.
    if stopped == "unavailable":
        after = f" after {give_up_after_s / 60:g} min" if give_up_after_s else ""
        why = transient(last_failure, endpoint) if last_failure else "SPOR could not be reached"
        return f"SPOR unavailable: the circuit breaker gave up{after}. {why}"
    if stopped == "deadline":
        return "The sending window closed at the 05:00 deadline before everything was sent"
    if stopped == "blackout":
        return "The sending window closed for 05:15-06:00 (SPOR copies data) before everything was sent"
    if waiting_by_reason.get("transient"):
        tried = f"all {attempted} request(s) failed" if attempted and last_failure else "requests failed"
        return f"{transient(last_failure, endpoint)}; {tried} and the retries ran out"
    return None


def of_stop(message: str) -> str:
    """The cause of a run-stopping error, from its PII-safe description (runlog.describe)."""
    text = re.sub(r"^\w+Error: ", "", message)
    tls = re.search(r"TLS with SPOR failed \(([^)]*)\) while sending \S+: (.*?)(?:; |\. [A-Z]|\.?$)", text)
    if tls:
        return f"SPOR refused the TLS connection ({tls.group(1)}): {tls.group(2)}"
    return re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0].rstrip(".")


def record(db: StateDB, run_id: str, task: str, sentence: str) -> bool:
    """Keep ``sentence`` as the run's cause unless it already has one. True when it was kept."""
    if runlog.cause(db, run_id) is not None:
        return False
    runlog.add(db, run_id, task, runlog.CAUSE, sentence)
    return True
