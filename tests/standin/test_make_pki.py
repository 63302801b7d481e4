"""The stand-in's test PKI (issue 3, point 5): CA, server, good/other-CA/expired/not-yet-valid clients."""

from __future__ import annotations

import stat
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key, pkcs12

from standin.make_pki import main, make_pki


def _cert(path):
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_pki_has_every_certificate_with_the_right_validity(tmp_path):
    pki = make_pki(tmp_path / "pki")
    now = datetime.now(UTC)
    ca = _cert(pki.ca_cert)
    for path in (pki.server_cert, pki.client_cert, pki.expired_client_cert, pki.notyet_client_cert):
        assert _cert(path).issuer == ca.subject
    assert _cert(pki.other_client_cert).issuer == _cert(pki.other_ca_cert).subject != ca.subject
    assert _cert(pki.client_cert).not_valid_before_utc < now < _cert(pki.client_cert).not_valid_after_utc
    assert _cert(pki.expired_client_cert).not_valid_after_utc < now
    assert _cert(pki.notyet_client_cert).not_valid_before_utc > now
    names = _cert(pki.server_cert).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)


def test_keys_are_private_and_the_password_forms_open_with_the_password(tmp_path):
    pki = make_pki(tmp_path / "pki")
    for key in (pki.ca_key, pki.client_key, pki.client_key_encrypted, pki.client_p12, pki.server_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(pki.dir.stat().st_mode) == 0o700
    key, cert, _ = pkcs12.load_key_and_certificates(pki.client_p12.read_bytes(), pki.password.encode())
    assert cert == _cert(pki.client_cert)
    encrypted = load_pem_private_key(pki.client_key_encrypted.read_bytes(), pki.password.encode())
    assert encrypted.private_numbers() == key.private_numbers()


def test_running_again_keeps_the_pki_unless_forced(tmp_path, capsys):
    first = make_pki(tmp_path / "pki").ca_cert.read_bytes()
    assert main([str(tmp_path / "pki")]) == 0
    assert (tmp_path / "pki" / "ca.pem").read_bytes() == first
    assert main([str(tmp_path / "pki"), "--force"]) == 0
    assert (tmp_path / "pki" / "ca.pem").read_bytes() != first
