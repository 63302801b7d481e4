"""What a failed connection to SPOR means, against the stand-in over real mutual TLS (R2, R16):
a refused or expired client certificate, or a server the pinned CA does not trust, is a
CertificateError that stops the run, at TLS 1.2 and 1.3, and the probe hears a TLS 1.3 alert
that surfaced as a reset."""

from __future__ import annotations

import pytest

from spor.errors import CertificateError, RunStoppingError
from spor.transport.client import SporClient
from standin.testing import hand_built_registration, spor_config


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_r2_r16_client_certificate_from_other_ca_is_a_certificate_error(standin_factory, standin_pki, tls):
    server = standin_factory(tls_max=tls)
    client = SporClient(spor_config(server, standin_pki, client="other-client"))
    with pytest.raises(CertificateError) as caught:
        client.post(hand_built_registration("2200056"))
    assert isinstance(caught.value, RunStoppingError)
    assert "CA" in str(caught.value) and "UNKNOWN_CA" in str(caught.value)
    assert server.received.index() == []  # nothing reached the service


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_r2_r16_expired_client_certificate_is_a_certificate_error(standin_factory, standin_pki, tls):
    server = standin_factory(tls_max=tls)
    client = SporClient(spor_config(server, standin_pki, client="expired-client"))
    with pytest.raises(CertificateError, match="expired"):
        client.post(hand_built_registration("2200057"))


def test_r2_server_not_trusted_by_pinned_ca_is_a_certificate_error(standin, standin_pki):
    # REQUESTS_CA_BUNDLE may be set on the workers: only the configured CA may count.
    client = SporClient(spor_config(standin, standin_pki, ca_bundle=str(standin_pki.other_ca_cert)))
    with pytest.raises(CertificateError, match="ca_bundle"):
        client.post(hand_built_registration("2200058"))


def test_r2_tls13_reset_after_handshake_is_classified_by_probe(standin_factory, standin_pki):
    """With TLS 1.3 a refused certificate may surface as a reset (the alert loses the race with the
    request); the probe (fresh connection, no request) hears the alert instead."""
    server = standin_factory(tls_max="1.3")
    client = SporClient(spor_config(server, standin_pki, client="other-client"))
    assert "UNKNOWN_CA" in (client.probe_tls_alert() or "")
    good = SporClient(spor_config(server, standin_pki))
    assert good.probe_tls_alert(wait_s=0.3) is None
