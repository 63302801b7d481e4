"""check_certificate: reads the environment label before it opens the certificate, passes it on
under its XCom key, records the certificate's expiry per environment, warns before it expires."""

from __future__ import annotations

from datetime import datetime

import pytest

from spor.errors import ConfigurationError
from spor.state import certificates, runlog
from spor.tasks import ids
from spor.tasks.check_certificate import check_certificate
from tests.metrics_support import record_metrics
from tests.spor.tasks.factory import Night, make_run, settings, spor_connection


def test_passes_the_environment_on_and_records_the_certificate(db, ops, clock, standin_pki, monkeypatch):
    spor_connection(monkeypatch, "https://localhost:9/spor", standin_pki, environment="stage")
    night = Night(make_run(), db, ops, clock, settings())
    result = night.call(check_certificate)
    assert night.ti.xcom_pull(task_ids=ids.CHECK_CERTIFICATE, key=ids.XCOM_ENVIRONMENT) == "stage"
    assert result["environment"] == "stage" and result["warning"] is False
    (expiry,) = certificates.all_environments(db)
    assert expiry.environment == "stage" and expiry.not_after.isoformat() == result["expires"]
    assert runlog.events(db, night.run.run_id) == []


def test_sends_the_days_the_certificate_has_left(db, ops, clock, standin_pki, monkeypatch):
    recorder = record_metrics(monkeypatch)
    spor_connection(monkeypatch, "https://localhost:9/spor", standin_pki, environment="stage")
    night = Night(make_run(), db, ops, clock, settings())
    expires = night.call(check_certificate)["expires"]
    assert recorder.values("spor.certificate_days_left.stage") == [(datetime.fromisoformat(expires) - clock.now()).days]


def test_warns_inside_the_warning_period(db, ops, clock, standin_pki, monkeypatch):
    spor_connection(monkeypatch, "https://localhost:9/spor", standin_pki)
    night = Night(make_run(), db, ops, clock, settings(certificate_warn_days=100_000))
    assert night.call(check_certificate)["warning"] is True
    (event,) = runlog.events(db, night.run.run_id)
    assert event.task == ids.CHECK_CERTIFICATE and event.data["environment"] == "stage"


def test_a_wrong_label_stops_before_the_certificate_is_opened(db, ops, clock, standin_pki, monkeypatch):
    spor_connection(monkeypatch, "https://localhost:9/spor", standin_pki, environment="staging")
    monkeypatch.setenv("AIRFLOW_CONN_SPOR_TASK_TEST", '{"conn_type": "spor", "extra": {"environment": "staging", '
                       '"endpoint": "https://x/spor", "cert_file": "/nowhere.pem"}}')
    night = Night(make_run(), db, ops, clock, settings())
    with pytest.raises(ConfigurationError, match="environment must be one of production, stage, stage-test-cert"):
        night.call(check_certificate)
    assert night.ti.xcom == {}


def test_r3_production_labelled_stage_stops_before_the_certificate_is_opened(db, ops, clock, standin_pki, monkeypatch):
    """The label must agree with SPOR's host: production's host labelled stage stops the run."""
    spor_connection(monkeypatch, "https://integration.ucr.uu.se/spor/ws/4_1/RegistrationService", standin_pki,
                    environment="stage")
    night = Night(make_run(), db, ops, clock, settings())
    with pytest.raises(ConfigurationError, match="environment 'stage' does not fit endpoint host "
                                                 "integration.ucr.uu.se, which is SPOR's production"):
        night.call(check_certificate)
    assert night.ti.xcom == {} and certificates.all_environments(db) == []


def test_the_test_certificate_entrance_sends_into_stage_and_keeps_its_own_certificate(db, ops, clock, standin_pki,
                                                                                      monkeypatch):
    """Both stage entrances share stage's ledger (docs/adr/0006); each keeps its certificate's expiry."""
    spor_connection(monkeypatch, "https://ucrtestserv01.ucr.uu.se/spor/ws/4_1/RegistrationService", standin_pki,
                    environment="stage-test-cert")
    night = Night(make_run(), db, ops, clock, settings())
    assert night.call(check_certificate)["environment"] == "stage"
    assert night.ti.xcom_pull(task_ids=ids.CHECK_CERTIFICATE, key=ids.XCOM_ENVIRONMENT) == "stage"
    assert [c.environment for c in certificates.all_environments(db)] == ["stage-test-cert"]
