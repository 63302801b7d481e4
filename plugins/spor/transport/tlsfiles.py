"""Client key material: read it in any of its forms (PEM files, PEM content, PKCS#12 file or content), and hand it to ``ssl`` safely.

Python's ``ssl`` loads certificates and keys only from files (docs/notes.md#ssl-keys-from-files). PEM files on
the worker are loaded where they are. PEM content (from a secrets backend) and PKCS#12 are written
to private temporary files (a 0700 folder, 0600 files), the key encrypted with a one-time random
password, loaded into the ``SSLContext`` and removed at once, before any connection is made.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from spor.errors import CertificateError, ConfigurationError

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

    from spor.transport.connection import SporConnectionConfig

_PREFIX = "spor-tls-"


@dataclass(frozen=True)
class Credentials:
    certificate: x509.Certificate
    key: PrivateKeyTypes
    chain: tuple[x509.Certificate, ...]    # intermediate certificates shipped with it


@contextlib.contextmanager
def private_files(contents: dict[str, bytes], directory: str | None = None) -> Iterator[dict[str, Path]]:
    """Write ``contents`` into a fresh 0700 folder as 0600 files; remove them when the block ends."""
    folder = Path(tempfile.mkdtemp(prefix=_PREFIX, dir=directory))  # mkdtemp creates it 0700
    try:
        paths = {}
        for name, data in contents.items():
            path = folder / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            paths[name] = path
        yield paths
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read the {what} at {path}: {exc.strerror}") from None


def _from_base64(text: str) -> bytes:
    import base64
    import binascii

    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError("pkcs12_b64 is not base64 (encode the .p12/.pfx file, e.g. base64 -w0 client.p12)") from None


def load_credentials(config: SporConnectionConfig) -> Credentials:
    """The client certificate and key as ``cryptography`` objects (for checks and PKCS#12)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    password = config.key_password.encode() if config.key_password else None
    data: bytes | None = None
    if config.pkcs12_file:
        what = f"the PKCS#12 file {config.pkcs12_file}"
        data = _read(config.pkcs12_file, "PKCS#12 file")
    elif config.pkcs12_b64:
        what = "the PKCS#12 content (pkcs12_b64)"
        data = _from_base64(config.pkcs12_b64)
    if data is not None:
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(data, password)
        except ValueError:
            raise CertificateError(
                f"cannot open {what}: wrong password (connection password / key_password) or not PKCS#12") from None
        if cert is None or key is None:
            raise CertificateError(f"{what} holds no certificate with its key")
        return Credentials(cert, key, tuple(extra or ()))
    if config.cert_pem:
        cert_data = config.cert_pem.encode()
        key_data = (config.key_pem or config.cert_pem).encode()
        where = "cert_pem/key_pem"
    elif config.cert_file:
        cert_data = _read(config.cert_file, "client certificate")
        key_data = _read(config.key_file, "client key") if config.key_file else cert_data
        where = config.key_file or config.cert_file
    else:  # SporConnectionConfig holds exactly one form
        raise ConfigurationError("the SPOR connection gives no client certificate")
    try:
        certs = x509.load_pem_x509_certificates(cert_data)
    except ValueError:
        raise CertificateError(f"the client certificate ({config.cert_file or 'cert_pem'}) is not a PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(key_data, password)
    except TypeError:
        raise CertificateError(f"the client key ({where}) is encrypted: set key_password (or the connection password)") from None
    except ValueError:
        raise CertificateError(f"cannot read the client key ({where}): wrong key_password, or not a PEM private key") from None
    return Credentials(certs[0], key, tuple(certs[1:]))


def key_matches(credentials: Credentials) -> bool:
    from cryptography.hazmat.primitives import serialization

    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return credentials.certificate.public_key().public_bytes(*fmt) == credentials.key.public_key().public_bytes(*fmt)


def build_ssl_context(config: SporConnectionConfig, *, temp_dir: str | None = None) -> ssl.SSLContext:
    """A client ``SSLContext``: TLS 1.2+, only the configured CA trusted, the client certificate loaded."""
    try:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH,
                                         cafile=config.ca_bundle or None, cadata=config.ca_pem or None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(f"cannot load the CA to trust ({config.ca_bundle or 'ca_pem'}): {exc}") from None
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if config.cert_file:
        # Files on disk (plain or encrypted key): ssl reads them where they are.
        try:
            # Never None: OpenSSL would prompt on the terminal for an encrypted key and hang the worker.
            ctx.load_cert_chain(config.cert_file, config.key_file or None, password=config.key_password or _no_password)
        except ssl.SSLError as exc:
            raise _load_error(config, exc) from None
        except OSError as exc:
            raise ConfigurationError(f"cannot read the client certificate or key: {exc.strerror} "
                                     f"({exc.filename or config.cert_file})") from None
        return ctx
    _load_via_private_files(ctx, config, temp_dir)
    return ctx


def _load_via_private_files(ctx: ssl.SSLContext, config: SporConnectionConfig, temp_dir: str | None) -> None:
    from cryptography.hazmat.primitives import serialization

    creds = load_credentials(config)
    if not key_matches(creds):
        raise CertificateError("the client certificate and its key do not match (wrong key for this certificate)")
    one_time = secrets.token_urlsafe(32)
    key_pem = creds.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.BestAvailableEncryption(one_time.encode()))
    chain_pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (creds.certificate, *creds.chain))
    with private_files({"client.pem": chain_pem, "client.key": key_pem}, temp_dir) as paths:
        try:
            ctx.load_cert_chain(paths["client.pem"], paths["client.key"], password=one_time)
        except ssl.SSLError as exc:
            raise _load_error(config, exc) from None


def _no_password() -> bytes:
    return b""


def _load_error(config: SporConnectionConfig, exc: ssl.SSLError) -> CertificateError:
    text = f"{exc.reason or ''} {exc}".upper()
    if "KEY_VALUES_MISMATCH" in text:
        return CertificateError("the client certificate and its key do not match (wrong key for this certificate)")
    if "BAD_DECRYPT" in text or "BAD PASSWORD" in text or "DECRYPT" in text or "PEM LIB" in text:
        if not config.key_password:
            return CertificateError("the client key is encrypted: set key_password (or the connection password)")
        return CertificateError("cannot decrypt the client key: wrong key_password (or connection password)")
    return CertificateError(f"cannot load the client certificate/key ({config.certificate_form}): {exc.reason or exc}")
