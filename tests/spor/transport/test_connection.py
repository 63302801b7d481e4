"""The SPOR connection: the same fields from the UI and from AIRFLOW_CONN_* (issue 3, point 1; R2, R3)."""

from __future__ import annotations

import json

import pytest

from spor.errors import ConfigurationError
from spor.transport.connection import SporConnectionConfig, environment_label, ledger_environment

STAGE = "https://test-integration.ucr.uu.se/spor/ws/4_1/RegistrationService"
BASE = {"environment": "stage", "pkcs12_file": "/secrets/spor.p12", "ca_bundle": "/secrets/siths-type3.pem"}


def test_r3_endpoint_from_host_url_and_password_as_key_password():
    config = SporConnectionConfig.from_mapping(BASE, host=STAGE, password="s3cret", conn_id="spor_stage")
    assert config.endpoint == STAGE and config.environment == "stage"
    assert config.key_password == "s3cret" and config.certificate_form == "pkcs12"
    assert config.timeout == (10.0, 60.0) and config.pool_size == 8


def test_r3_endpoint_from_host_port_and_path_like_the_ui_form():
    config = SporConnectionConfig.from_mapping(BASE, host="test-integration.ucr.uu.se", port=443,
                                               schema="/spor/ws/4_1/RegistrationService")
    assert config.endpoint == "https://test-integration.ucr.uu.se:443/spor/ws/4_1/RegistrationService"


def test_extra_as_json_string_with_numbers_as_text_and_old_ui_prefixes():
    extra = json.dumps({**BASE, "endpoint": STAGE, "read_timeout": "30", "extra__spor__pool_size": "4",
                        "proxy": "http://proxy.region.se:8080"})
    config = SporConnectionConfig.from_mapping(extra)
    assert (config.read_timeout, config.pool_size, config.proxy) == (30.0, 4, "http://proxy.region.se:8080")


@pytest.mark.parametrize("change, message", [
    ({"environment": "prod"}, "environment must be one of"),
    ({"environment": None}, "missing environment"),
    ({"endpoint": "http://test-integration.ucr.uu.se/x"}, "https://"),
    ({"cert_file": "/secrets/c.pem"}, "exactly one form"),
    ({"pkcs12_file": None}, "exactly one form"),
    ({"ca_bundle": None}, "SITHS Type 3 CA v1"),
    ({"pool_size": 0}, "pool_size"),
    ({"read_timeout": "soon"}, "read_timeout must be a number"),
    ({"proxy": "proxy:8080"}, "proxy must be a URL"),
    ({"certfile": "/x"}, "unknown extra field 'certfile'"),
])
def test_invalid_connections_are_refused_with_the_field_named(change, message):
    extra = {**BASE, "endpoint": STAGE, **change}
    with pytest.raises(ConfigurationError, match=message):
        SporConnectionConfig.from_mapping(extra, conn_id="spor_default")


def test_secrets_stay_out_of_repr_and_describe():
    config = SporConnectionConfig.from_mapping(
        {"environment": "stage", "endpoint": STAGE, "cert_pem": "CERTDATA", "key_pem": "KEYDATA",
         "ca_pem": "CADATA", "key_password": "PASSWORD1"})
    for text in (repr(config), config.describe()):
        assert "KEYDATA" not in text and "PASSWORD1" not in text and "CERTDATA" not in text


def test_r2_hook_reads_airflow_conn_environment_variable_json(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SPOR_ENVTEST", json.dumps(
        {"conn_type": "spor", "host": STAGE, "password": "p12pass", "extra": BASE}))
    from spor.hooks.spor import SporHook

    config = SporHook(spor_conn_id="spor_envtest").get_config()
    assert config == SporConnectionConfig.from_mapping(BASE, host=STAGE, password="p12pass", conn_id="spor_envtest")


def test_r2_hook_reads_generic_connection_with_extra_like_the_ui(monkeypatch):
    # The UI stores a generic connection: host + path in schema, the rest in Extra.
    monkeypatch.setenv("AIRFLOW_CONN_SPOR_UITEST", json.dumps(
        {"conn_type": "generic", "host": "ucrtestserv01.ucr.uu.se", "schema": "spor/ws/4_1/RegistrationService",
         "extra": json.dumps({**BASE, "environment": "stage-test-cert"})}))
    from spor.hooks.spor import SporHook

    config = SporHook(spor_conn_id="spor_uitest").get_config()
    assert config.endpoint == "https://ucrtestserv01.ucr.uu.se/spor/ws/4_1/RegistrationService"
    assert config.environment == "stage-test-cert"


def test_the_stored_port_is_the_endpoints_port():
    """A `spor` connection keeps 443 (or its URL's own port) as Port, so that Airflow's Test button
    of a stored connection tests the stored endpoint; a Port that names another endpoint is refused."""
    from spor.transport.connection import endpoint_port

    assert endpoint_port(STAGE) == 443 and endpoint_port("https://127.0.0.1:8443/spor") == 8443
    assert SporConnectionConfig.from_mapping(BASE, host=STAGE, port=443).endpoint == STAGE
    assert SporConnectionConfig.from_mapping(BASE, host="https://127.0.0.1:8443/spor", port=8443).endpoint
    assert SporConnectionConfig.from_mapping(BASE, host=STAGE, port=0).endpoint == STAGE  # the UI's "empty"
    with pytest.raises(ConfigurationError, match=r"spor_x: Port 8443 is not the endpoint's port 443"):
        SporConnectionConfig.from_mapping(BASE, host=STAGE, port=8443, conn_id="spor_x")


HOSTS = {"production": "https://integration.ucr.uu.se/spor/ws/4_1/RegistrationService",
         "stage": STAGE,
         "stage-test-cert": "https://ucrtestserv01.ucr.uu.se/spor/ws/4_1/RegistrationService"}


@pytest.mark.parametrize("label", sorted(HOSTS))
@pytest.mark.parametrize("host_of", sorted(HOSTS))
def test_r3_the_label_must_fit_spors_host(label, host_of):
    """Production labelled stage would look already sent: each of the guide's hosts takes its own label only."""
    extra = {**BASE, "environment": label}
    if label == host_of:
        assert SporConnectionConfig.from_mapping(extra, host=HOSTS[host_of]).environment == label
        assert environment_label(extra, "c", endpoint=HOSTS[host_of]) == label
        return
    message = f"environment '{label}' does not fit endpoint host .*, which is SPOR's {host_of}"
    with pytest.raises(ConfigurationError, match=message):
        SporConnectionConfig.from_mapping(extra, host=HOSTS[host_of])
    with pytest.raises(ConfigurationError, match=message):
        environment_label(extra, "c", endpoint=HOSTS[host_of])
    with pytest.raises(ConfigurationError, match=message):  # extra.endpoint wins over the host field
        environment_label({**extra, "endpoint": HOSTS[host_of]}, "c", endpoint="https://127.0.0.1:8443/x")


def test_host_match_ignores_case_port_and_trailing_dot_and_other_hosts_are_free():
    with pytest.raises(ConfigurationError, match="which is SPOR's production"):
        SporConnectionConfig.from_mapping(BASE, host="https://Integration.UCR.uu.se.:443/spor/ws/4_1/RegistrationService")
    for free in ("https://127.0.0.1:8443/spor/ws/4_1/RegistrationService", "https://localhost/spor",
                 "https://spor-proxy.region.se/spor/ws/4_1/RegistrationService"):
        for label in ("production", "stage", "stage-test-cert"):
            assert SporConnectionConfig.from_mapping({**BASE, "environment": label}, host=free).environment == label


def test_both_stage_entrances_write_into_stage():
    """One stage with two entrances (real and test certificate): one ledger (docs/adr/0006)."""
    assert [ledger_environment(label) for label in ("production", "stage", "stage-test-cert")] == [
        "production", "stage", "stage"]
    config = SporConnectionConfig.from_mapping({**BASE, "environment": "stage-test-cert"}, host=HOSTS["stage-test-cert"])
    assert (config.environment, config.ledger_environment) == ("stage-test-cert", "stage")
