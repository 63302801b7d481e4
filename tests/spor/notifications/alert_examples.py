"""The example of every message in docs/alerts.md, made by the code that sends it.

Each alert goes the way it goes at night: the tasks' events in a state database (``runlog``), the
summary as ``summarize`` keeps it, the DAG callback (``on_run_failed`` / ``on_run_succeeded``) or
the Deadline Alert's (``deadline_missed``), the setting read from the Airflow Variable
``spor_notifications``, and a notifier (:class:`Capture`, an Airflow ``BaseNotifier`` named in
the setting like Slack's would be) that keeps what it was handed. The removal request is the
e-mail UCR gets, composed as the nightly step composes it. Every example is of one fixed run.

After an alert's text changes, rewrite the examples in docs/alerts.md (only the generated
blocks, each after an ``<!-- example: NAME -->`` line):

    .venv/bin/python -m tests.spor.notifications.alert_examples --write
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from airflow.sdk import BaseNotifier

from spor.clock import STOCKHOLM, FixedClock
from spor.state import database as statedb
from spor.state import run_summary, runlog
from tests.conftest import ROOT

DOC = ROOT / "docs" / "alerts.md"
DAG_ID = "spor_nightly"
RUN_ID = "scheduled__2025-12-01T23:30:00+00:00"
BASE_URL = "https://airflow.sjukhus.example"
NIGHT = datetime(2025, 12, 2, 1, 0, tzinfo=STOCKHOLM)
REMOVAL_REQUEST = "removal_request"
#: A generated block: the marker line, a ```text fence, the example, the closing fence.
BLOCK = re.compile(r"(<!-- example: (?P<name>[\w-]+) -->\n```text\n)(?P<body>.*?)(^```$)", re.S | re.M)
REWRITE = ".venv/bin/python -m tests.spor.notifications.alert_examples --write"

_captured: list[dict[str, Any]] = []


class Capture(BaseNotifier):
    """Keeps what it is asked to send: the ``spor_alert`` of the context (cause, subject, text)."""

    template_fields = ()

    def notify(self, context: Any) -> None:
        _captured.append(dict(context["spor_alert"]))


@contextmanager
def _night(path: Path) -> Iterator[statedb.StateDB]:
    """A state database behind the ``spor_state`` connection, and the setting naming :class:`Capture`."""
    db = statedb.connect(f"sqlite:///{path}", clock=FixedClock(NIGHT))
    given = {
        "AIRFLOW_CONN_SPOR_STATE": json.dumps({"conn_type": "sqlite", "host": str(path)}),
        "AIRFLOW_VAR_SPOR_NOTIFICATIONS": json.dumps({"smtp_conn_id": "smtp_default",
                                                      "alerts": {"notifier": f"{__name__}.Capture"}}),
        "AIRFLOW__API__BASE_URL": BASE_URL,
    }
    gone = ("AIRFLOW_VAR_SPOR_CONFIG", "AIRFLOW_VAR_SPOR_REMOVAL_NOTIFIER")
    before = {k: os.environ.get(k) for k in (*given, *gone)}
    os.environ.update(given)
    for key in gone:
        os.environ.pop(key, None)
    try:
        yield db
    finally:
        db.dispose()
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _summarize(db: statedb.StateDB, **extra: Any) -> None:
    """The summary as the summarize task keeps it, from the run's events."""
    from spor.state import summary

    run = SimpleNamespace(dag_id=DAG_ID, run_id=RUN_ID, mode="scheduled")
    run_summary.save(db, DAG_ID, RUN_ID, summary.compose(db, run, extra))


def _ended(*, failed: bool) -> None:
    from spor.notifications import alerts

    context = {"dag": SimpleNamespace(dag_id=DAG_ID), "run_id": RUN_ID, "reason": "task_failure"}
    (alerts.on_run_failed if failed else alerts.on_run_succeeded)(context)


def _failed_run(db: statedb.StateDB) -> None:
    """A task failed with an error the code did not expect (its text withheld: it could quote patient data)."""
    runlog.add(db, RUN_ID, "extract", runlog.FAILURE, runlog.describe(TimeoutError("the OPS did not answer")))
    _summarize(db)
    _ended(failed=True)


def _stop(db: statedb.StateDB) -> None:
    from spor.errors import CertificateError

    refused = CertificateError("SPOR refused the client certificate (TLS handshake: unknown CA): "
                               "check that the connection holds the SITHS function certificate SPOR knows")
    runlog.add(db, RUN_ID, "send_batch", runlog.STOP, runlog.describe(refused))
    _cause(db, cause_of_stop=runlog.describe(refused))
    _summarize(db)
    _ended(failed=True)


def _not_done(db: statedb.StateDB) -> None:
    """What summarize keeps (and then fails the run) when sendable registrations are left."""
    from spor.send import cause
    from spor.state.night import NightNotDone
    from spor.state.waiting import Waiting

    undone = NightNotDone(environment="production", waiting=412, by_reason={"deadline": 400, "transient": 12})
    cause.record(db, RUN_ID, "send_batch", cause.of_batch("deadline", {"deadline": 400}, attempted=2310))
    left = Waiting("production", 412, undone.by_reason, first={"deadline": ["3000105", "3000377", "3000412"],
                                                               "transient": ["3000733"]})
    _summarize(db, night_not_done={"waiting": undone.waiting, "by_reason": undone.by_reason,
                                   "owned_by_dead_batches": undone.owned_by_dead_batches}, waiting=left.as_dict())
    _ended(failed=True)


def _cause(db: statedb.StateDB, *, cause_of_stop: str) -> None:
    """The cause the task wrapper records beside a stop (spor.tasks.context)."""
    from spor.send import cause

    cause.record(db, RUN_ID, "send_batch", cause.of_stop(cause_of_stop))


def _capacity(db: statedb.StateDB) -> None:
    from spor.send import capacity
    from spor.send.windows import SendingWindow

    late = datetime(2025, 12, 2, 4, 20, tzinfo=STOCKHOLM)
    estimate = capacity.estimate(outbox_size=60000, latency_s=0.4, pool_slots=2, threads_per_task=4, now=late,
                                 window=SendingWindow(started_at=late))
    runlog.add(db, RUN_ID, "plan_batches", runlog.CAPACITY, estimate.warning or "fits", estimate.as_dict())
    _summarize(db)
    _ended(failed=False)


def _certificate(db: statedb.StateDB) -> None:
    warning = ("client certificate CN=spor-integration.sjukhus.example (/opt/spor/certificate/client.pem) expires in "
               "12 days (2025-12-14); order a new one from the local SITHS administration in time")
    runlog.add(db, RUN_ID, "check_certificate", runlog.INFO, warning,
               {"certificate_expires": "2025-12-14T08:00:00+00:00", "days_left": 12, "environment": "production"})
    _summarize(db)
    _ended(failed=False)


def _deadline(_db: statedb.StateDB) -> None:
    from spor.notifications.deadline import deadline_missed

    deadline_missed({"dag_run": {"dag_id": DAG_ID, "run_id": RUN_ID, "state": "running"},
                     "deadline": {"deadline_time": "2025-12-02T04:00:00+00:00"}})


def _system_id_unknown(db: statedb.StateDB) -> None:
    """SPOR answered ERROR "Systemet X som angivits i SystemId hittas inte" to one unit's registrations."""
    from spor.state import probes
    from spor.state.database import inserted_id
    from spor.state.tables import last_final, ledger

    system_id = "SE2321000016-OPA3"
    with db.write() as conn:
        for nr in ("3000105", "3000377", "3000412"):
            text = (f"Systemet kunde inte ta emot registreringen: {nr} "
                    f"Systemet {system_id} som angivits i SystemId hittas inte")
            lid = inserted_id(conn.execute(ledger.insert().values(
                run_id=RUN_ID, environment="stage", system_id=system_id, behandlingsnummer=nr, content_hash="h" + nr,
                attempt=1, outcome="rejected", result_code="ERROR", result_text=text, sent_at=NIGHT, answered_at=NIGHT)))
            conn.execute(last_final.insert().values(environment="stage", system_id=system_id, behandlingsnummer=nr,
                                                    state="rejected", content_hash="h" + nr, answered_at=NIGHT,
                                                    run_id=RUN_ID, ledger_id=lid))
    _summarize(db, refused_system_ids=probes.summary_section(db, "stage", RUN_ID, {system_id: ["OPA3"]}))
    _ended(failed=False)


#: How each alert comes about; the examples are keyed by the cause each one sends.
SCENARIOS: tuple[Callable[[statedb.StateDB], None], ...] = (
    _failed_run, _stop, _not_done, _capacity, _certificate, _deadline, _system_id_unknown)


def _removal_request() -> str:
    from spor.removal.model import CAUSE_SPARRLISTA, SCOPE_PATIENT, UCR_ADDRESS
    from spor.removal.text import compose_request_text

    subject, text = compose_request_text(
        request_id=7, cause=CAUSE_SPARRLISTA, source_key="41", environment="production", scope=SCOPE_PATIENT,
        numbers=["3000105", "3000377"], system_ids=["SE2321000016-OPA1"], orsak="patienten vill inte delta",
        kanal="muntligt vid inskrivning", datum="2025-12-01")
    return f"To: {UCR_ADDRESS}\nSubject: {subject}\n\n{text}"


def examples() -> dict[str, str]:
    """Cause (or ``removal_request``) -> the message as sent: subject, blank line, text."""
    found: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="spor-alert-examples-") as tmp:
        for scenario in SCENARIOS:
            with _night(Path(tmp) / f"{scenario.__name__.strip('_')}.sqlite") as db:
                _captured.clear()
                scenario(db)
                for alert in _captured:
                    found[alert["cause"]] = f"Subject: {alert['subject']}\n\n{alert['text'].rstrip()}\n"
    found[REMOVAL_REQUEST] = _removal_request()
    return found


def in_doc(text: str) -> dict[str, str]:
    """Name -> the example docs/alerts.md shows."""
    return {m.group("name"): m.group("body") for m in BLOCK.finditer(text)}


def rewritten(text: str, made: dict[str, str]) -> str:
    """``text`` with every generated block holding what the code sends."""
    return BLOCK.sub(lambda m: m.group(1) + made.get(m.group("name"), m.group("body")) + m.group(4), text)


def main(argv: list[str]) -> int:
    import logging

    logging.disable(logging.INFO)  # the migrations and "alert sent" lines would hide the one line that matters
    made = examples()
    text = DOC.read_text(encoding="utf-8")
    new = rewritten(text, made)
    missing = sorted(set(made) - set(in_doc(text)))
    if "--write" in argv:
        DOC.write_text(new, encoding="utf-8")
        print(f"{DOC.relative_to(ROOT)}: {'rewritten' if new != text else 'already up to date'}")
    elif new != text:
        print(f"{DOC.relative_to(ROOT)} differs from what the code sends: {REWRITE}")
    if missing:
        print(f"no block for {missing}: add '<!-- example: NAME -->' and an empty ```text block for each")
    return 1 if missing or (new != text and "--write" not in argv) else 0


if __name__ == "__main__":
    # The module as imported, not __main__: the setting names Capture by its import path.
    from tests.spor.notifications.alert_examples import main as _main

    sys.exit(_main(sys.argv[1:]))
