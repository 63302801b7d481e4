"""The ``spor`` connection type as Airflow sees it: declared by the provider entry point, a form
whose every field is an Extra key the hook reads, and a Test button (the API server's connection
test endpoint) that answers with one line naming the cause, checked against the stand-in (R2)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from importlib.metadata import distribution

import pytest

from spor.get_provider_info import CONN_FIELDS, ENDPOINTS, get_provider_info
from spor.transport.connection import EXTRA_FIELDS, SporConnectionConfig


def test_provider_entry_point_names_this_distribution():
    dist = distribution("spor-airflow")
    points = {ep.group: ep.value for ep in dist.entry_points}
    assert points["apache_airflow_provider"] == "spor.get_provider_info:get_provider_info"
    assert points["airflow.plugins"] == "spor.plugin:SporPlugin"
    info = get_provider_info()
    assert info["package-name"] == dist.metadata["Name"] == "spor-airflow"
    (conn_type,) = info["connection-types"]
    assert conn_type["connection-type"] == "spor" and conn_type["hook-class-name"] == "spor.hooks.spor.SporHook"


def test_every_form_field_is_an_extra_key_the_hook_reads():
    assert set(CONN_FIELDS) <= set(EXTRA_FIELDS)
    # the select offers the three environments and no "null"; the field stays optional by its type
    assert CONN_FIELDS["environment"]["schema"]["enum"] == ["production", "stage", "stage-test-cert"]
    assert "null" in CONN_FIELDS["environment"]["schema"]["type"]
    secret = {name for name, f in CONN_FIELDS.items() if f["schema"].get("format") == "password"}
    assert {"key_pem", "pkcs12_b64"} <= secret
    assert set(ENDPOINTS) == {"production", "stage", "stage-test-cert"}


def test_ui_form_values_round_trip_into_the_connection_config(standin_pki):
    """What the UI saves (every field, unset ones as null, numbers as numbers) is accepted as is."""
    extra = {name: None for name in CONN_FIELDS} | {
        "environment": "stage", "pkcs12_b64": base64.b64encode(standin_pki.client_p12.read_bytes()).decode(),
        "ca_bundle": str(standin_pki.ca_cert), "connect_timeout": 5, "read_timeout": 20, "pool_size": 4}
    config = SporConnectionConfig.from_mapping(extra, host=ENDPOINTS["stage"], password=standin_pki.password)
    assert config.certificate_form == "pkcs12" and config.pool_size == 4 and config.endpoint == ENDPOINTS["stage"]
    assert "MII" not in repr(config) and standin_pki.password not in repr(config)


def _airflow_cli(*args: str) -> str:
    env = {**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    done = subprocess.run([sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True,
                          timeout=300, check=True)
    return done.stdout


def test_airflow_lists_the_provider_and_the_spor_hook(airflow_db):
    assert "spor-airflow" in _airflow_cli("providers", "list")
    hooks = json.loads(_airflow_cli("providers", "hooks", "-o", "json"))
    assert {"connection_type": "spor", "class": "spor.hooks.spor.SporHook", "package_name": "spor-airflow"}.items() \
        <= next(h for h in hooks if h["connection_type"] == "spor").items()


@pytest.fixture
def api(airflow_db, monkeypatch):
    """The API server's own application, with the connection Test button enabled."""
    from fastapi.testclient import TestClient

    monkeypatch.setenv("AIRFLOW__CORE__TEST_CONNECTION", "Enabled")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    from airflow.api_fastapi.app import create_app

    return TestClient(create_app())


def test_hook_meta_the_ui_reads_carries_the_form(api):
    meta = next(h for h in api.get("/ui/connections/hook_meta").json() if h["connection_type"] == "spor")
    assert set(meta["extra_fields"]) == set(CONN_FIELDS)
    assert meta["standard_fields"]["host"]["title"] == "Endpoint URL"
    assert meta["standard_fields"]["host"]["placeholder"] == ENDPOINTS["stage"]
    assert meta["standard_fields"]["login"]["hidden"]
    # Port is shown: a stored spor connection keeps 443 (or the endpoint's port), see the stored connection's Test
    port = meta["standard_fields"]["port"]
    assert not port["hidden"] and port["placeholder"] == "443" and "443" in port["title"]


def test_the_stored_connections_test_reuses_a_stored_connection_only_with_its_stored_port(api, standin, standin_pki):
    """Airflow 3.3.2 tests a stored connection with its stored credentials only when the request's
    host and port are the stored ones; its UI's Test button sends 0 for an empty port. With the
    endpoint's port stored the Test reaches SPOR; the same request with port 0 is refused (400)."""
    from airflow.models import Connection
    from airflow.utils.session import create_session

    from spor.transport.connection import endpoint_port

    extra = json.dumps({"environment": "stage", "cert_file": str(standin_pki.client_cert),
                        "key_file": str(standin_pki.dir / "client.key"), "ca_bundle": str(standin_pki.ca_cert)})
    port = endpoint_port(standin.url)
    with create_session() as session:
        session.add(Connection(conn_id="spor_stored", conn_type="spor", host=standin.url, port=port, extra=extra))
    try:
        body = {"connection_id": "spor_stored", "conn_type": "spor", "host": standin.url, "extra": extra,
                "password": "***"}
        answer = api.post("/api/v2/connections/test", json=body | {"port": port})
        assert answer.status_code == 200 and answer.json()["status"] is True, answer.text
        refused = api.post("/api/v2/connections/test", json=body | {"port": 0})
        assert refused.status_code == 400 and "differs from the stored connection" in refused.text
    finally:
        with create_session() as session:
            session.query(Connection).filter(Connection.conn_id == "spor_stored").delete()


def test_an_unknown_extra_key_names_the_connection_once(api, monkeypatch):
    """The Test button (on the connection's row) says the cause without the API server's random
    test id; `spor check-connection` names the connection once."""
    extra = {"environment": "stage", "cert_fiel": "/x.pem"}
    body = {"connection_id": "spor_typo", "conn_type": "spor", "host": ENDPOINTS["stage"], "port": 443,
            "extra": json.dumps(extra)}
    message = api.post("/api/v2/connections/test", json=body).json()["message"]
    assert message.startswith("unknown extra field 'cert_fiel'; known: endpoint,"), message
    env = {**os.environ, "AIRFLOW_CONN_SPOR_TYPO": json.dumps({"conn_type": "spor", "host": ENDPOINTS["stage"],
                                                                 "extra": extra})}
    cli = subprocess.run([sys.executable, "-m", "spor", "check-connection", "--conn-id", "spor_typo"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 1 and cli.stdout.count("spor_typo") == 1, cli.stdout + cli.stderr
    assert cli.stdout.startswith("FAILED: connection spor_typo: unknown extra field 'cert_fiel'"), cli.stdout


def _test_button(api, standin, pki, **extra):
    fields = {"environment": "stage", "cert_file": str(pki.client_cert), "key_file": str(pki.dir / "client.key"),
              "ca_bundle": str(pki.ca_cert), "connect_timeout": 5, "read_timeout": 10} | extra
    body = {"connection_id": "spor_ui_test", "conn_type": "spor", "host": standin.url,
            "extra": json.dumps({k: v for k, v in fields.items() if v is not None})}
    answer = api.post("/api/v2/connections/test", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_r2_test_button_succeeds_against_the_stand_in(api, standin, standin_pki):
    result = _test_button(api, standin, standin_pki)
    assert result["status"] is True, result
    assert "reached SPOR stage" in result["message"] and "mutual TLS" in result["message"]


def test_r2_test_button_names_a_certificate_from_a_foreign_ca(api, standin, standin_pki):
    result = _test_button(api, standin, standin_pki, cert_file=str(standin_pki.other_client_cert),
                          key_file=str(standin_pki.other_client_key))
    assert result["status"] is False
    assert "refused the client certificate" in result["message"], result


def test_r2_test_button_names_an_expired_certificate(api, standin, standin_pki):
    result = _test_button(api, standin, standin_pki, cert_file=str(standin_pki.expired_client_cert),
                          key_file=str(standin_pki.dir / "expired-client.key"))
    assert result["status"] is False and "expired" in result["message"], result


def test_r2_test_button_names_a_wrong_ca_for_the_server(api, standin, standin_pki):
    result = _test_button(api, standin, standin_pki, ca_bundle=str(standin_pki.other_ca_cert))
    assert result["status"] is False and result["message"].startswith("wrong CA"), result


def test_test_button_names_an_unknown_host_and_a_closed_port(api, standin, standin_pki):
    class Nowhere:
        url = "https://spor-standin.invalid/spor/ws/4_1/RegistrationService"

    result = _test_button(api, Nowhere, standin_pki)
    assert result["status"] is False and result["message"].startswith("unknown host spor-standin.invalid"), result

    class Closed:
        url = "https://127.0.0.1:9/spor/ws/4_1/RegistrationService"

    result = _test_button(api, Closed, standin_pki)
    assert result["status"] is False and "connection refused" in result["message"], result


def test_r3_test_button_names_a_label_that_does_not_fit_spors_host(api, standin, standin_pki):
    class Production:
        url = "https://integration.ucr.uu.se/spor/ws/4_1/RegistrationService"

    result = _test_button(api, Production, standin_pki)  # labelled stage
    assert result["status"] is False, result
    assert ("environment 'stage' does not fit endpoint host integration.ucr.uu.se, which is SPOR's production"
            in result["message"]), result


def test_the_same_check_runs_on_a_worker_from_the_cli(standin, standin_pki, monkeypatch):
    extra = {"environment": "stage", "cert_file": str(standin_pki.client_cert),
             "key_file": str(standin_pki.dir / "client.key"), "ca_bundle": str(standin_pki.ca_cert)}
    env = {**os.environ, "AIRFLOW_CONN_SPOR_CLI_TEST": json.dumps({"conn_type": "spor", "host": standin.url, "extra": extra})}
    ok = subprocess.run([sys.executable, "-m", "spor", "check-connection", "--conn-id", "spor_cli_test"], env=env,
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "reached SPOR stage" in ok.stdout, ok.stdout + ok.stderr
    env["AIRFLOW_CONN_SPOR_CLI_TEST"] = json.dumps({"conn_type": "spor", "host": standin.url, "extra": extra | {
        "cert_file": str(standin_pki.expired_client_cert), "key_file": str(standin_pki.dir / "expired-client.key")}})
    bad = subprocess.run([sys.executable, "-m", "spor", "check-connection", "--conn-id", "spor_cli_test"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "expired" in bad.stdout
