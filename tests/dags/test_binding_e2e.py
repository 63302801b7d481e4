"""The nightly on a WSDL that does not match the builder's schema (SOAP 1.2 binding): the run stops
before the first send, naming the difference; nothing reaches the stand-in."""

from __future__ import annotations

from tests.dags.nightly_support import environment, load_dag, night_settings, received, start_night
from tests.spor.transport.test_binding import variant

WINTER_NIGHT = "2025-12-01T01:00:00+01:00"


def test_a_soap12_wsdl_stops_the_night_before_anything_is_sent(tmp_path, standin_pki, airflow_db):
    from spor.state import database, run_summary

    wsdl = variant(tmp_path, wsdl=('xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"',
                                   'xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap12/"'))
    night = start_night(tmp_path / "night", standin_pki, n=30, seed=5)
    try:
        with environment(night_settings(night, WINTER_NIGHT, spor_extra={"wsdl_location": str(wsdl)})):
            run = load_dag("spor_nightly").test(logical_date=None)
        index = received(night)
    finally:
        night.standin.stop()
    assert run.state == "failed", run.state
    assert index == [], "a registration reached SPOR through a mismatching WSDL"
    db = database.connect(f"sqlite:///{night.env.state_db}", upgrade=False)
    try:
        summary = run_summary.load(db, "spor_nightly", run.run_id)
    finally:
        db.dispose()
    told = summary["stops"] + summary["failures"]
    assert any("SchemaMismatch" in t and "SOAP 1.2" in t for t in told), told
    assert summary["by_state"]["waiting"] > 0 and summary["by_state"]["created"] == 0
