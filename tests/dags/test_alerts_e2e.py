"""Alerts from a real run: spor_nightly with dag.test() calls the DAG's callbacks when the run ends,
and the alert reaches a real SMTP server, once per cause."""

from __future__ import annotations

import email
import email.policy
import json
from urllib.parse import quote

import pytest

from tests.dags.nightly_support import environment, load_dag, night_settings, start_night

WINTER_NIGHT = "2025-12-01T01:00:00+01:00"


@pytest.fixture
def night(tmp_path, standin_pki, airflow_db):
    night = start_night(tmp_path, standin_pki, n=60, seed=5)
    yield night
    night.standin.stop()


def test_a_certificate_inside_the_warning_period_sends_one_alert_when_the_run_ends(night, smtp_server):
    """certificate_warn_days larger than the test certificate's life: the run succeeds, and the
    team gets exactly one e-mail, the certificate alert, linking to the run; UCR gets nothing."""
    values = night_settings(night, WINTER_NIGHT, config={"certificate_warn_days": 100000})
    values["AIRFLOW_VAR_SPOR_NOTIFICATIONS"] = json.dumps(
        {"smtp_conn_id": "spor_smtp_test", "to": "drift@ucr.uu.se", "alerts": {"to": "jour@sjukhus.example"}})
    with environment(values):
        run = load_dag("spor_nightly").test(logical_date=None)
    assert run.state == "success", run.state
    mails = [(rcpt, email.message_from_bytes(raw, policy=email.policy.default)) for rcpt, raw in smtp_server.messages]
    alerts = [(rcpt, m) for rcpt, m in mails if str(m["Subject"]).startswith("SPOR alert")]
    assert len(alerts) == 1, [str(m["Subject"]) for _r, m in mails]
    rcpt, msg = alerts[0]
    body = msg.get_body(preferencelist=("html", "plain")).get_content()
    assert rcpt == ["jour@sjukhus.example"] and "certificate expires soon" in str(msg["Subject"])
    assert f"/dags/spor_nightly/runs/{quote(run.run_id, safe='')}" in body and "order a new" in body.lower()
