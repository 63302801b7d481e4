"""A bad night told plainly, end to end: real Airflow (``dag.test()``), the stand-in over mutual
TLS or nothing at all, the alert into the project's SMTP server, the status page rendered from the
state database.

- SPOR unreachable — nothing listens on the endpoint, or the stand-in resets every request — with
  2 registrations (a resend: too few requests for the circuit breaker to open; the retries run out)
  and with about 300 (the nightly: the breaker opens and gives up after its 300 s on the run's
  clock, which runs 30x here). The run fails; the summary's first line, the alert (its text and
  HTML parts) and the status page name the cause; "needs the team" lists what waits (R13: a green
  run means the night is done).
- A client certificate from a foreign CA stops the run: every view shows the same waiting count —
  the summary, its "night not done", the alert and the status page's card and table.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import socket
import time

import pytest

from tests.dags.nightly_support import (
    ClockScript,
    environment,
    load_dag,
    outbox,
    received,
    scripted_settings,
    start_night,
    xcom,
)

NIGHT = "2026-01-15T01:00:00+01:00"
DAYTIME = "2026-01-20T10:00:00+01:00"
#: The run's clock runs this much faster than real time while sending: the breaker's 300 s give-up
#: is 10 real seconds, the retries' minute two.
SPEED = 30
ALERTS = {"smtp_conn_id": "spor_smtp_test", "to": "drift@ucr.uu.se", "alerts": {"to": "jour@sjukhus.example"}}


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(night, dag_id: str, clock_at: str, *, conf: dict | None = None, spor_extra: dict | None = None,
         config: dict | None = None):
    script = ClockScript(clock_at, speed=SPEED)
    dag = script.attach(load_dag(dag_id))
    values = scripted_settings(night, script, config=config, spor_extra=spor_extra)
    values["AIRFLOW_VAR_SPOR_NOTIFICATIONS"] = json.dumps(ALERTS)
    started = time.monotonic()
    with environment(values):
        dr = dag.test(run_conf=conf) if conf is not None else dag.test()
    return dr, time.monotonic() - started


def _views(night, dr) -> tuple[dict, str, str]:
    """(the kept summary, its text as the summarize task logs it, the status page's HTML)."""
    from datetime import datetime

    from spor.clock import STOCKHOLM
    from spor.state import database, run_summary, summary
    from spor.state.status import read
    from spor.ui.status_page import status_page

    db = database.connect(f"sqlite:///{night.env.state_db}", upgrade=False)
    try:
        kept = run_summary.load(db, dr.dag_id, dr.run_id)
        now = datetime(2026, 1, 20, 12, 0, tzinfo=STOCKHOLM)
        page = status_page(read(db, now=now), now=now)
    finally:
        db.dispose()
    assert kept is not None, "no summary was kept"
    return kept, summary.render_text(kept), page


def _alert(smtp_server) -> tuple[str, str, str]:
    """The one alert e-mail: (subject, text/plain part, text/html part)."""
    mails = [email.message_from_bytes(raw, policy=email.policy.default) for _rcpt, raw in smtp_server.messages]
    alerts = [m for m in mails if str(m["Subject"]).startswith("SPOR alert")]
    assert len(alerts) == 1, [str(m["Subject"]) for m in mails]
    (msg,) = alerts
    assert msg.get_content_type() == "multipart/alternative", msg.get_content_type()
    return (str(msg["Subject"]), msg.get_body(preferencelist=("plain",)).get_content(),
            msg.get_body(preferencelist=("html",)).get_content())


def _card(page: str, label: str) -> int:
    found = re.search(rf"<div class='card'>{label}<b>([\d,]+)</b>", page)
    assert found, f"no {label!r} card on the status page"
    return int(found.group(1).replace(",", ""))


def _table_total(page: str) -> int:
    section = page.split("<h2>Waiting in the outbox now</h2>", 1)[1].split("<h2>", 1)[0]
    found = re.search(r"<tr class='total'><td>total</td><td></td><td class=n>([\d,]+)</td>", section)
    assert found, section[:500]
    return int(found.group(1).replace(",", ""))


def _assert_told(night, dr, smtp_server, *, cause: str, noun: str) -> dict:
    """The run failed, and the summary's first line, the alert and the status page name the cause;
    needs the team lists what waits, with the same count everywhere."""
    waiting = outbox(night)
    assert dr.state == "failed", f"SPOR could not be reached, yet the {noun} is {dr.state}"
    assert waiting and set(waiting.values()) == {"transient"}, set(waiting.values())
    kept, text, page = _views(night, dr)
    first = text.splitlines()[0]
    assert first.startswith(f"Why the {noun} is not done: ") and cause in first, first
    assert kept["waiting"]["total"] == kept["night_not_done"]["waiting"] == len(waiting)
    team = next(line for line in text.splitlines() if line.startswith("  needs the team:"))
    assert f"{len(waiting):,} waiting in the outbox" in team, text
    assert "Nothing: no registration needs the team" not in text
    subject, plain, html = _alert(smtp_server)
    assert f"the {noun} is not done" in subject, subject
    for body in (plain, html):
        assert cause in body and f"{len(waiting):,} registration(s) of stage wait in the outbox" in body, body
        assert "{" not in body and "by_reason" not in body and "night_not_done" not in body, body
    assert cause in page and _card(page, "waiting now") == _table_total(page) == len(waiting)
    return kept


@pytest.fixture
def two(tmp_path, standin_pki, airflow_db):
    night = start_night(tmp_path, standin_pki, n=12, seed=5, days=3)
    yield night
    night.standin.stop()


def _two_numbers(night) -> list[str]:
    m = night.manifest
    return sorted(b for b in m.expected_rendered() if not m.treatments[b].defects)[:2]


def test_resend_of_2_with_nothing_listening_fails_and_says_spor_could_not_be_reached(two, smtp_server):
    """Two registrations, nothing listens: sixteen refused connections, too few for the breaker;
    the retries run out and the run says why (R13)."""
    endpoint = f"https://127.0.0.1:{closed_port()}/spor/ws/4_1/RegistrationService"
    dr, took = _run(two, "spor_resend", DAYTIME, conf={"behandlingsnummer": _two_numbers(two)},
                    spor_extra={"endpoint": endpoint})
    kept = _assert_told(two, dr, smtp_server, noun="run",
                        cause=f"SPOR could not be reached: nothing accepted the connection at {endpoint}")
    assert "retries ran out" in kept["cause"] and len(outbox(two)) == 2
    assert took < 240, f"{took:.0f} s"
    # the send task's last log line said it in words (XCom keeps its counts, not a dict in the log)
    batch = xcom(dr, "send_batch", map_index=0)
    assert batch["attempted"] == 16 and batch["waiting_by_reason"] == {"transient": 2}


def test_resend_of_2_with_every_request_reset_fails_and_says_why(two, smtp_server):
    two.standin.server.faults.reset_share = 1.0  # every request: TCP reset, nothing stored
    dr, _took = _run(two, "spor_resend", DAYTIME, conf={"behandlingsnummer": _two_numbers(two)})
    _assert_told(two, dr, smtp_server, noun="run",
                 cause="SPOR could not be reached: every connection at https://")
    assert {r["outcome"] for r in received(two)} == {"injected:reset"}


@pytest.fixture
def three_hundred(tmp_path, standin_pki, airflow_db):
    night = start_night(tmp_path, standin_pki, n=300, seed=29)
    yield night
    night.standin.stop()


def test_night_of_300_with_nothing_listening_gives_up_within_the_breakers_time(three_hundred, smtp_server):
    """About 300 registrations: the breaker opens after its first 20 refused requests, probes, and
    gives up after 300 s on the run's clock; a later batch probes once and gives up too."""
    endpoint = f"https://127.0.0.1:{closed_port()}/spor/ws/4_1/RegistrationService"
    dr, took = _run(three_hundred, "spor_nightly", NIGHT, spor_extra={"endpoint": endpoint},
                    config={"batches_per_run": 2, "threads_per_task": 4})
    kept = _assert_told(three_hundred, dr, smtp_server, noun="night",
                        cause="SPOR unavailable: the circuit breaker gave up after 5 min. SPOR could not be "
                              f"reached: nothing accepted the connection at {endpoint}")
    assert len(outbox(three_hundred)) > 250
    assert took < 300 / SPEED + 240, f"{took:.0f} s"   # the give-up time, plus preparing the night
    assert "SPOR unavailable" in kept["cause"]


def test_night_of_300_with_every_request_reset_gives_up_and_says_why(three_hundred, smtp_server):
    from standin.faults import FaultPlan

    three_hundred.standin.server.faults = FaultPlan(reset_share=1.0)
    dr, _took = _run(three_hundred, "spor_nightly", NIGHT, config={"batches_per_run": 2, "threads_per_task": 4})
    _assert_told(three_hundred, dr, smtp_server, noun="night",
                 cause="SPOR unavailable: the circuit breaker gave up after 5 min. SPOR could not be reached: "
                       "every connection at https://")
    assert len(received(three_hundred)) < 60   # the breaker, not eight tries per registration


def test_after_a_run_stopped_by_a_foreign_ca_certificate_every_view_shows_the_same_waiting_count(
        three_hundred, smtp_server):
    """The stand-in refuses a client certificate from another CA: the first batch stops the run, the
    others send nothing. What every batch held waits, and the summary, "night not done", the alert
    and the status page (card and table) count it the same."""
    pki = three_hundred.env.pki
    dr, _took = _run(three_hundred, "spor_nightly", NIGHT,
                     spor_extra={"cert_file": str(pki / "other-client.pem"), "key_file": str(pki / "other-client.key")},
                     config={"batches_per_run": 3, "min_batch_size": 50, "threads_per_task": 2})
    waiting = len(outbox(three_hundred))
    assert dr.state == "failed" and waiting > 250, (dr.state, waiting)
    kept, text, page = _views(three_hundred, dr)
    assert kept["stops"], kept
    assert text.splitlines()[0].startswith("Why the night is not done: SPOR refused the TLS connection"), text
    assert kept["waiting"]["total"] == kept["night_not_done"]["waiting"] == waiting, (kept["waiting"], waiting)
    assert f"waiting in the outbox now: {waiting:,} ({waiting:,} " in text, text
    subject, plain, html = _alert(smtp_server)
    assert "the night stopped" in subject
    for body in (plain, html):
        assert f"{waiting:,} registration(s) of stage wait in the outbox" in body and "SPOR refused the TLS" in body
    assert _card(page, "waiting now") == _table_total(page) == waiting
    assert "SPOR refused the TLS connection" in page
