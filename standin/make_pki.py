"""Make the test PKI for the stand-in SPOR service (never for real use).

    python standin/make_pki.py DIR            # or: python -m standin.make_pki DIR

Writes into DIR (created 0700; keys 0600):

- ``ca.pem`` / ``ca.key``                       test CA the stand-in trusts ("SITHS Type 3 CA v1 PP" stand-in)
- ``server.pem`` / ``server.key``               server certificate for localhost, 127.0.0.1, ::1
- ``client.pem`` / ``client.key``               good client (function) certificate, plain key
- ``client-encrypted.key``                      the same key, PEM encrypted with PASSWORD
- ``client.p12``                                the same certificate + key as PKCS#12 with PASSWORD
- ``other-ca.pem``, ``other-client.pem/.key``   a client certificate from another CA (rejected)
- ``expired-client.pem/.key``                   issued by the test CA, expired
- ``notyet-client.pem/.key``                    issued by the test CA, not valid yet
- ``password.txt``                              PASSWORD (test material only)

Running it again on a complete DIR does nothing (pass ``--force`` to remake).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

PASSWORD = "standin-test-password"
#: Good certificates are back-dated so that tests and the demo can run the pipeline at simulated
#: nights in the past (spor.clock) and the certificate check still finds them valid.
BACKDATED = timedelta(days=5 * 365)
_MARKER = "password.txt"  # written last: its presence means the PKI is complete


@dataclass(frozen=True)
class Pki:
    """Paths of the test PKI. Attribute names say what each file is."""

    dir: Path
    password: str = PASSWORD

    def _p(self, name: str) -> Path:
        return self.dir / name

    ca_cert = property(lambda s: s._p("ca.pem"))
    ca_key = property(lambda s: s._p("ca.key"))
    server_cert = property(lambda s: s._p("server.pem"))
    server_key = property(lambda s: s._p("server.key"))
    client_cert = property(lambda s: s._p("client.pem"))
    client_key = property(lambda s: s._p("client.key"))
    client_key_encrypted = property(lambda s: s._p("client-encrypted.key"))
    client_p12 = property(lambda s: s._p("client.p12"))
    other_ca_cert = property(lambda s: s._p("other-ca.pem"))
    other_client_cert = property(lambda s: s._p("other-client.pem"))
    other_client_key = property(lambda s: s._p("other-client.key"))
    expired_client_cert = property(lambda s: s._p("expired-client.pem"))
    expired_client_key = property(lambda s: s._p("expired-client.key"))
    notyet_client_cert = property(lambda s: s._p("notyet-client.pem"))
    notyet_client_key = property(lambda s: s._p("notyet-client.key"))


def _new_key():
    from cryptography.hazmat.primitives.asymmetric import rsa

    # RSA 2048 like SITHS function certificates.
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(cn: str, org: str = "SPOR stand-in test PKI"):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ])


def _ca(cn: str, now: datetime):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    key = _new_key()
    name = _name(cn)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATED)
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(cn: str, ca_cert, ca_key, *, not_before: datetime, not_after: datetime, server: bool):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID

    key = _new_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=True,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ]), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def _write(path: Path, data: bytes, *, secret: bool) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _cert_pem(cert) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key, password: str | None = None) -> bytes:
    from cryptography.hazmat.primitives import serialization

    encryption = (serialization.BestAvailableEncryption(password.encode()) if password
                  else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def make_pki(directory: str | os.PathLike[str], *, force: bool = False) -> Pki:
    """Create (or reuse) the test PKI in ``directory`` and return its paths."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    pki = Pki(Path(directory))
    if not force and (pki.dir / _MARKER).exists():
        return pki
    pki.dir.mkdir(parents=True, exist_ok=True)
    os.chmod(pki.dir, 0o700)
    now = datetime.now(UTC)

    ca_cert, ca_key = _ca("SPOR stand-in test CA", now)
    other_cert, other_key = _ca("Some other CA", now)
    valid = dict(not_before=now - BACKDATED, not_after=now + timedelta(days=365))
    server_cert, server_key = _leaf("localhost", ca_cert, ca_key, server=True, **valid)
    client_cert, client_key = _leaf("SE2321000000-standin-client", ca_cert, ca_key, server=False, **valid)
    foreign_cert, foreign_key = _leaf("SE2321000000-foreign-client", other_cert, other_key, server=False, **valid)
    expired_cert, expired_key = _leaf("SE2321000000-expired-client", ca_cert, ca_key, server=False,
                                      not_before=now - timedelta(days=400), not_after=now - timedelta(days=2))
    notyet_cert, notyet_key = _leaf("SE2321000000-notyet-client", ca_cert, ca_key, server=False,
                                    not_before=now + timedelta(days=30), not_after=now + timedelta(days=400))

    _write(pki.ca_cert, _cert_pem(ca_cert), secret=False)
    _write(pki.ca_key, _key_pem(ca_key), secret=True)
    _write(pki.other_ca_cert, _cert_pem(other_cert), secret=False)
    for cert_path, key_path, cert, key in [
        (pki.server_cert, pki.server_key, server_cert, server_key),
        (pki.client_cert, pki.client_key, client_cert, client_key),
        (pki.other_client_cert, pki.other_client_key, foreign_cert, foreign_key),
        (pki.expired_client_cert, pki.expired_client_key, expired_cert, expired_key),
        (pki.notyet_client_cert, pki.notyet_client_key, notyet_cert, notyet_key),
    ]:
        _write(cert_path, _cert_pem(cert), secret=False)
        _write(key_path, _key_pem(key), secret=True)
    _write(pki.client_key_encrypted, _key_pem(client_key, PASSWORD), secret=True)
    p12 = pkcs12.serialize_key_and_certificates(
        b"standin-client", client_key, client_cert, [ca_cert],
        serialization.BestAvailableEncryption(PASSWORD.encode()))
    _write(pki.client_p12, p12, secret=True)
    _write(pki.dir / _MARKER, PASSWORD.encode(), secret=True)
    return pki


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Make the stand-in SPOR test PKI (test material only).")
    parser.add_argument("directory")
    parser.add_argument("--force", action="store_true", help="remake even if DIR already holds a PKI")
    args = parser.parse_args(argv)
    pki = make_pki(args.directory, force=args.force)
    print(f"test PKI in {pki.dir} (password for encrypted key and PKCS#12: see password.txt)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
