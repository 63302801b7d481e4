"""The 05:00 alert through a real Airflow scheduler (R19: nothing is sent after 05:00; the team is
told when a night is still running then).

Only the scheduler evaluates Deadline Alerts, on the real clock, so this test runs a real stack
(API server, scheduler, dag-processor, triggerer; LocalExecutor on a fresh SQLite metadata
database) with two tiny DAGs carrying the SPOR deadline (``nightly_deadline``, the reference
registered by the plugin) a few seconds ahead instead of 05:00: one run sleeps past its deadline
and must send exactly one e-mail to a real SMTP server, with the run's link and no identity number;
the other finishes before its deadline and must send nothing.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

pytestmark = pytest.mark.xdist_group("airflow-stack")

LATE, IN_TIME = "spor_deadline_late", "spor_deadline_in_time"
TEAM = "jour@sjukhus.example"
IDENTITY_SHAPED = re.compile(r"(?<!\d)(19|20)?\d{6}[-+]?\d{4}(?!\d)")

PROBES = '''"""Probe DAGs of the deadline test: the SPOR deadline, a few seconds ahead."""
import time
from datetime import datetime

from airflow.sdk import DAG, task

from spor.notifications.deadline import nightly_deadline


def probe(dag_id, at, sleep_until):
    with DAG(dag_id, schedule=None, start_date=datetime(2026, 1, 1), catchup=False,
             deadline=nightly_deadline(at=at)) as dag:
        @task
        def work():
            time.sleep(max(0.0, sleep_until - time.time()))

        work()
    return dag


probe({late!r}, {late_at!r}, {late_until!r})
probe({in_time!r}, {in_time_at!r}, 0.0)
'''


def _local(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo("Europe/Stockholm")).strftime("%H:%M:%S")


def _api(base: str, path: str, body: dict | None = None) -> dict:
    """Airflow's REST API with a token from the simple auth manager (every user an admin here)."""
    with urllib.request.urlopen(f"{base}/auth/token", timeout=30) as answer:
        token = json.load(answer)["access_token"]
    request = urllib.request.Request(f"{base}{path}", data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                                     method="POST" if body is not None else "GET")
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def _mails(server) -> list[tuple[list[str], str, str]]:
    out = []
    for rcpt, raw in list(server.messages):
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        out.append((rcpt, str(msg["Subject"]), msg.get_body(preferencelist=("html", "plain")).get_content()))
    return out


@pytest.fixture
def stack(tmp_path, smtp_server):
    yield from _stack(tmp_path)


@pytest.fixture
def scheduling_stack(tmp_path, smtp_server):
    """The same stack with the scheduler creating the runs of a DAG's schedule, on PostgreSQL: the
    backfill command writes beside a busy scheduler, which SQLite answers with "database is locked"."""
    from devenv.stack import drop_postgres_database, fresh_postgres_database, missing_services

    if missing := [m for m in missing_services() if m.startswith("PostgreSQL")]:
        pytest.skip(missing[0])
    url = fresh_postgres_database("spor_deadline_backfill")
    try:
        yield from _stack(tmp_path, {"AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "True"}, metadata_url=url)
    finally:
        drop_postgres_database("spor_deadline_backfill")


def _stack(tmp_path, extra: dict[str, str] | None = None, metadata_url: str | None = None):
    from devenv.stack import Stack, free_port, local_settings

    home, dags = tmp_path / "airflow", tmp_path / "dags"
    home.mkdir()
    dags.mkdir()
    port = free_port()
    env = dict(os.environ) | local_settings(metadata_url=metadata_url or f"sqlite:///{home / 'airflow.db'}") | {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "1",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "2",
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
        # the alert setting a site keeps in Airflow (shared with the removal e-mail)
        "AIRFLOW_VAR_SPOR_NOTIFICATIONS": json.dumps({"smtp_conn_id": "spor_smtp_test", "alerts": {"to": [TEAM]}}),
    } | (extra or {})
    running = Stack(home=home, env=env, logs=tmp_path / "logs", api_port=port)
    running.airflow("db", "migrate")
    try:
        running.start_core()
        yield running, dags
    finally:
        running.stop()


def _deadline_of(stack, dag_id: str):
    row = stack.metadata("SELECT d.deadline_time, d.missed FROM deadline d JOIN dag_run r ON r.id = d.dagrun_id "
                         "WHERE r.dag_id = :d", d=dag_id)
    return None if row is None else (datetime.fromisoformat(str(row[0])).replace(tzinfo=UTC), bool(row[1]))


def _wait(condition, until: float, what: str, stack) -> None:
    while time.time() < until:
        if condition():
            return
        stack.check_alive()
        time.sleep(0.5)
    raise AssertionError(f"{what}; see the logs in {stack.logs}")


def test_R19_a_run_past_its_deadline_sends_one_alert_a_run_done_before_sends_none(stack, smtp_server):
    """The scheduler evaluates the plugin's deadline reference (first HH:MM:SS Europe/Stockholm
    after the run's run_after): the run still working at its deadline sends exactly one e-mail,
    naming the run with its link and no identity number; the run that finished before its own
    deadline sends nothing, also after that deadline has passed."""
    stack, dags = stack
    base = f"http://127.0.0.1:{stack.api_port}"
    now = datetime.now(UTC).replace(microsecond=0)
    late_at, in_time_at = now + timedelta(seconds=30), now + timedelta(seconds=50)
    (dags / "deadline_probes.py").write_text(PROBES.format(
        late=LATE, late_at=_local(late_at), late_until=(in_time_at + timedelta(seconds=3)).timestamp(),
        in_time=IN_TIME, in_time_at=_local(in_time_at)))
    for dag_id in (LATE, IN_TIME):
        stack.wait_for_dag(dag_id, timeout=25)
    runs = {dag_id: _api(base, f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None})["dag_run_id"]
            for dag_id in (LATE, IN_TIME)}
    triggered = time.time()
    assert triggered < late_at.timestamp() - 5, f"the DAGs were parsed too late ({triggered - now.timestamp():.0f} s)"

    # The deadline the scheduler will watch: today's HH:MM:SS, from the plugin's reference.
    assert _deadline_of(stack, LATE) == (late_at, False)
    assert _deadline_of(stack, IN_TIME) in ((in_time_at, False), None)  # None: already done and pruned

    _wait(lambda: stack.metadata("SELECT state FROM dag_run WHERE dag_id = :d", d=IN_TIME)[0] == "success",
          in_time_at.timestamp() - 2, f"{IN_TIME} did not finish before its deadline", stack)
    _wait(lambda: len(smtp_server.messages) >= 1, late_at.timestamp() + 30,
          "no deadline e-mail within 30 s after the deadline", stack)
    # Past the second run's deadline (and several scheduler loops): still one e-mail.
    time.sleep(max(0.0, in_time_at.timestamp() + 6 - time.time()))

    from spor import links

    ((rcpt, subject, body),) = _mails(smtp_server)
    assert rcpt == [TEAM]
    assert "05:00 passed with the run unfinished" in subject and runs[LATE] in subject and IN_TIME not in subject
    assert f"{base}{links.run_path(LATE, runs[LATE])}" in body and "What to do" in body
    assert f"{late_at.astimezone(ZoneInfo('Europe/Stockholm')):%Y-%m-%d %H:%M}" in body
    assert not IDENTITY_SHAPED.search(subject + body)
    assert _deadline_of(stack, LATE) == (late_at, True)
    assert _deadline_of(stack, IN_TIME) is None, "a run done in time keeps no deadline"
    callback = stack.metadata("SELECT c.state FROM callback c JOIN deadline d ON d.callback_id = c.id "
                              "JOIN dag_run r ON r.id = d.dagrun_id WHERE r.dag_id = :d", d=LATE)
    assert callback is not None and callback[0] == "success", callback


NIGHTLY = "spor_deadline_nightly"

NIGHTLY_PROBE = '''"""Probe DAG of the backfill deadline test: a nightly on a cron a minute ahead, the SPOR deadline
30 s after it; tonight's scheduled run works past it, the others finish at once."""
import time
from datetime import datetime

from airflow.sdk import DAG, CronTriggerTimetable, task

from spor.notifications.deadline import nightly_deadline

with DAG({dag_id!r}, schedule=CronTriggerTimetable({cron!r}, timezone="Europe/Stockholm"),
         start_date=datetime(2026, 1, 1), catchup=False, deadline=nightly_deadline(at={at!r})) as dag:
    @task
    def work(dag_run=None):
        if dag_run.run_after.timestamp() >= {fire!r}:  # tonight's run, not the last night's catchup creates
            time.sleep(max(0.0, {sleep_until!r} - time.time()))

    work()
'''


def _rows(stack, sql: str, **params) -> list[tuple]:
    import sqlalchemy as sa

    engine = sa.create_engine(stack.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql), params)]
    finally:
        engine.dispose()


def test_R19_a_backfill_of_past_days_sends_no_0500_alert_a_nightly_that_misses_it_still_does(scheduling_stack,
                                                                                            smtp_server):
    """`airflow backfill create` of three past days, run by the real scheduler: each day's 05:00
    had passed when its run was created, so the plugin's reference gives no deadline and no
    e-mail goes out (Airflow would otherwise alert at once for every day). The same DAG's
    scheduled run of tonight, still working at its deadline, sends exactly one."""
    stack, dags = scheduling_stack
    local = ZoneInfo("Europe/Stockholm")
    fire = (datetime.now(UTC) + timedelta(seconds=50)).replace(second=0, microsecond=0) + timedelta(minutes=1)
    due = fire + timedelta(seconds=30)
    fire_local = fire.astimezone(local)
    (dags / "nightly_probe.py").write_text(NIGHTLY_PROBE.format(
        dag_id=NIGHTLY, cron=f"{fire_local.minute} {fire_local.hour} * * *", at=_local(due), fire=fire.timestamp(),
        sleep_until=(due + timedelta(seconds=4)).timestamp()))
    stack.wait_for_dag(NIGHTLY, timeout=40)

    # The CLI's dates are UTC midnights, --to-date not included: the three days before yesterday
    # (yesterday's night is the run the scheduler creates at once: catchup is off).
    today = fire.date()
    created = stack.airflow("backfill", "create", "--dag-id", NIGHTLY, "--from-date",
                            (today - timedelta(days=4)).isoformat(), "--to-date", (today - timedelta(days=1)).isoformat(),
                            check=False)
    assert created.returncode == 0, created.stdout[-3000:] + created.stderr[-3000:]
    query = "SELECT state FROM dag_run WHERE dag_id = :d AND run_type = 'backfill'"
    _wait(lambda: (states := [s for (s,) in _rows(stack, query, d=NIGHTLY)]) and len(states) == 3
          and all(s == "success" for s in states), time.time() + 120, "the backfill's three runs did not succeed", stack)
    days = sorted(d for (d,) in _rows(stack, "SELECT run_after FROM dag_run WHERE dag_id = :d AND run_type = 'backfill'",
                                      d=NIGHTLY))
    assert len(days) == 3, days
    deadlines = _rows(stack, "SELECT r.run_id FROM deadline d JOIN dag_run r ON r.id = d.dagrun_id WHERE r.dag_id = :d",
                      d=NIGHTLY)
    tonight = f"scheduled__{fire.isoformat()}"
    assert set(deadlines) <= {(tonight,)}, f"a backfill day or last night's run got a deadline: {deadlines}"

    _wait(lambda: len(smtp_server.messages) >= 1, due.timestamp() + 40,
          "no deadline e-mail within 40 s after tonight's deadline", stack)
    time.sleep(3)  # several scheduler loops: nothing more arrives
    ((rcpt, subject, body),) = _mails(smtp_server)
    assert rcpt == [TEAM]
    assert "05:00 passed with the run unfinished" in subject and tonight in subject, subject
    assert _deadline_of(stack, NIGHTLY) == (due, True)
    assert f"{due.astimezone(local):%Y-%m-%d %H:%M}" in body
