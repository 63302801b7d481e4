"""Certificate check before sending (R2): warn before expiry, fail when unusable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from spor.errors import CertificateError, ConfigurationError
from spor.transport.certificate import certificate_status
from standin.testing import spor_config

URL = "https://127.0.0.1:1/spor/ws/4_1/RegistrationService"
NOW = datetime.now(UTC)


@pytest.mark.parametrize("form", ["pem", "pkcs12", "pem_content", "encrypted_pem"])
def test_r2_valid_certificate_passes_in_every_form(standin_pki, form):
    status = certificate_status(spor_config(URL, standin_pki, form=form), now=NOW)
    assert status.ok and status.warning is None and 360 <= status.days_left <= 366
    assert "standin-client" in status.subject and "test CA" in status.issuer


def test_r2_certificate_expiring_within_warn_days_warns(standin_pki):
    config = spor_config(URL, standin_pki)
    not_after = certificate_status(config, now=NOW).not_after
    status = certificate_status(config, now=not_after - timedelta(days=10))
    assert not status.ok and "expires in 10 days" in status.warning
    assert certificate_status(config, now=not_after - timedelta(days=10), warn_days=5).ok


def test_r2_expired_certificate_fails(standin_pki):
    with pytest.raises(CertificateError, match="expired on"):
        certificate_status(spor_config(URL, standin_pki, client="expired-client"), now=NOW)


def test_r2_valid_certificate_fails_once_the_clock_passes_its_end(standin_pki):
    config = spor_config(URL, standin_pki)
    with pytest.raises(CertificateError, match="expired on"):
        certificate_status(config, now=NOW + timedelta(days=400))


def test_r2_not_yet_valid_certificate_fails(standin_pki):
    with pytest.raises(CertificateError, match="not valid yet"):
        certificate_status(spor_config(URL, standin_pki, client="notyet-client"), now=NOW)


def test_r2_certificate_and_key_that_do_not_match_fail(standin_pki):
    config = spor_config(URL, standin_pki, key_file=str(standin_pki.other_client_key))
    with pytest.raises(CertificateError, match="does not match its key"):
        certificate_status(config, now=NOW)


def test_r2_wrong_pkcs12_password_fails_without_showing_it(standin_pki):
    config = spor_config(URL, standin_pki, form="pkcs12", key_password="not-the-password")
    with pytest.raises(CertificateError) as caught:
        certificate_status(config, now=NOW)
    assert "wrong password" in str(caught.value) and "not-the-password" not in str(caught.value)


def test_naive_now_is_refused(standin_pki):
    with pytest.raises(ConfigurationError):
        certificate_status(spor_config(URL, standin_pki), now=datetime(2025, 1, 1))
