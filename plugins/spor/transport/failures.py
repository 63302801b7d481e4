"""Why a connection to SPOR failed, as the typed error that decides what the run does next.

A failed TLS handshake, or with TLS 1.3 an alert right after it, means SPOR (or its CA) refused
our client certificate: ``CertificateError``, which stops the run and names the likely cause in
words a data team can act on, together with what our own check of the certificate says. A
timeout, a reset without an alert or a refused connection is ``TransientError``: the batch loop
tries again later, within the window.

With TLS 1.3 the server's verdict on the client certificate arrives after the handshake and may
lose the race with our request, so that it surfaces as a plain reset. When the error itself
names no alert, a probe opens a fresh connection, sends nothing and listens for one.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator
from datetime import UTC
from urllib.parse import urlsplit

from spor.errors import CertificateError, TransientError
from spor.transport.connection import SporConnectionConfig

__all__ = ["FailureClassifier", "likely_cause"]

# TLS alerts and verification failures → the likely cause, in words a data team can act on.
_TLS_CAUSES = (
    ("CERTIFICATE_VERIFY_FAILED", "SPOR's server certificate is not trusted by the configured CA (ca_bundle/ca_pem), "
                                  "or the endpoint's host name does not match it: check ca_bundle (SITHS Type 3 CA v1; "
                                  "v1 PP for the test-certificate stage) and the endpoint"),
    ("UNKNOWN_CA", "the server does not trust the client certificate's CA: wrong CA (e.g. a test certificate "
                   "against production or stage, or a certificate from another CA)"),
    ("CERTIFICATE_EXPIRED", "the server says the client certificate has expired"),
    ("CERTIFICATE_REVOKED", "the server says the client certificate is revoked"),
    ("CERTIFICATE_REQUIRED", "the server requires a client certificate and got none"),
    ("BAD_CERTIFICATE", "the server rejected the client certificate (expired, not yet valid, wrong CA or wrong key usage)"),
    ("UNSUPPORTED_CERTIFICATE", "the server does not accept this kind of client certificate (key usage)"),
    ("CERTIFICATE_UNKNOWN", "the server rejected the client certificate (certificate unknown)"),
    ("DECRYPT_ERROR", "the server could not verify the client's signature: the key does not match the certificate"),
    ("HANDSHAKE_FAILURE", "the TLS handshake failed (no common protocol/cipher, or the client certificate was refused)"),
    ("PROTOCOL_VERSION", "no common TLS version with the server"),
    ("ACCESS_DENIED", "the server denied access to this client certificate"),
)


def exception_chain(exc: BaseException | None) -> Iterator[BaseException]:
    """Every exception reachable from ``exc`` once: causes, contexts, exception arguments, and the
    ``reason`` / ``original_error`` that urllib3 wraps (MaxRetryError, ProtocolError)."""
    seen: set[int] = set()
    stack: list[object] = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen or not isinstance(e, BaseException):
            continue
        seen.add(id(e))
        yield e
        stack.extend([e.__cause__, e.__context__, *[a for a in e.args if isinstance(a, BaseException)]])
        stack.extend(v for v in (getattr(e, "reason", None), getattr(e, "original_error", None))
                     if isinstance(v, BaseException))


def tls_alert_reason(exc: BaseException | None) -> str | None:
    """The reason of an ssl.SSLError anywhere in the exception's chain or arguments (e.g. an alert)."""
    for e in exception_chain(exc):
        if isinstance(e, ssl.SSLError):
            reason = e.reason or ""
            text = f"{reason} {e}".upper()
            if any(key in text for key, _ in _TLS_CAUSES) or "ALERT" in text:
                return reason or str(e)
    return None


def chain_has(exc: BaseException | None, kinds: tuple[type, ...]) -> bool:
    return any(isinstance(e, kinds) for e in exception_chain(exc))


def likely_cause(reason: str) -> str:
    upper = reason.upper()
    for key, cause in _TLS_CAUSES:
        if key in upper:
            return cause
    return "the TLS connection was refused (certificate, key, CA or expiry)"


class FailureClassifier:
    """Turns the connection errors of one SPOR connection into ``CertificateError`` or ``TransientError``."""

    #: A probe that found the certificate accepted is trusted this long: a burst of resets while
    #: SPOR is unwell then costs one probe, not one per reset (each probe listens up to a second).
    PROBE_MEMORY_S = 30.0

    def __init__(self, config: SporConnectionConfig, ssl_context: ssl.SSLContext):
        self.config = config
        self.ssl_context = ssl_context
        self._accepted_at: float | None = None

    def _recently_accepted(self) -> bool:
        return self._accepted_at is not None and time.monotonic() - self._accepted_at < self.PROBE_MEMORY_S

    def certificate_error(self, nr: str, reason: str) -> CertificateError:
        local = _local_diagnosis(self.config)
        cause = likely_cause(reason)
        return CertificateError(f"TLS with SPOR failed ({reason}) while sending {nr}: {cause}"
                                f"{'; ' + local if local else ''}. {self.config.describe()}")

    def ssl_error(self, nr: str, exc: BaseException) -> Exception:
        reason = tls_alert_reason(exc)
        if reason:
            return self.certificate_error(nr, reason)
        # An SSL error without an alert (e.g. EOF: the server hung up before its alert was read).
        if self._recently_accepted():
            return TransientError(f"{nr}: the TLS connection to SPOR broke off (the handshake itself works)")
        alert = self.probe_tls_alert()
        if alert:
            return self.certificate_error(nr, alert)
        if self.probe_handshake_ok():
            return TransientError(f"{nr}: the TLS connection to SPOR broke off (the handshake itself works)")
        return self.certificate_error(nr, type(exc).__name__)

    def connection_error(self, nr: str, exc: BaseException) -> Exception:
        reason = tls_alert_reason(exc)
        if reason:  # TLS 1.3: the server's verdict on the certificate arrives as an alert on first read
            return self.certificate_error(nr, reason)
        if chain_has(exc, (ConnectionRefusedError,)):
            return TransientError(f"{nr}: SPOR refused the connection (service down?)")
        # A reset or a close without an answer. With TLS 1.3 this may be a certificate rejection that
        # lost the race with our request: ask the server once without a request.
        alert = self.probe_tls_alert()
        if alert:
            return self.certificate_error(nr, alert)
        return TransientError(f"{nr}: the connection to SPOR was dropped without an answer")

    def probe_handshake_ok(self) -> bool:
        """True when a fresh TLS handshake with the server succeeds (and is not refused at once)."""
        return self._probe(wait_s=0.3) == "accepted"

    def probe_tls_alert(self, wait_s: float = 1.0) -> str | None:
        """Open a fresh TLS connection, send nothing, and listen: an alert means the certificate was refused."""
        if self._recently_accepted():
            return None
        verdict = self._probe(wait_s)
        if verdict == "accepted":
            self._accepted_at = time.monotonic()
        return None if verdict in ("accepted", "unknown") else verdict

    def _probe(self, wait_s: float) -> str:
        """'accepted', 'unknown' (no connection, proxy, closed) or the TLS alert reason."""
        if self.config.proxy:
            return "unknown"  # would need a CONNECT tunnel; resets through a proxy count as transient
        parts = urlsplit(self.config.endpoint)
        host, port = parts.hostname or "", parts.port or 443
        try:
            with socket.create_connection((host, port), timeout=self.config.connect_timeout) as raw:
                with self.ssl_context.wrap_socket(raw, server_hostname=host) as tls:
                    tls.settimeout(wait_s)
                    try:
                        data = tls.recv(1)
                    except ssl.SSLError as exc:
                        return tls_alert_reason(exc) or "unknown"
                    except TimeoutError:
                        return "accepted"  # the server kept us and waits for a request
                    except OSError:
                        return "unknown"
                    return "unknown" if not data else "accepted"
        except ssl.SSLError as exc:
            return tls_alert_reason(exc) or "unknown"
        except OSError:
            return "unknown"


def _local_diagnosis(config: SporConnectionConfig) -> str:
    """What our own check says about the certificate (expired, not yet valid, key mismatch), if anything."""
    from datetime import datetime

    from spor.transport.certificate import certificate_status

    try:
        status = certificate_status(config, now=datetime.now(UTC))
    except CertificateError as exc:
        return f"local check: {exc}"
    except Exception:  # noqa: BLE001 - a diagnosis must never hide the real error
        return ""
    return f"local check: certificate valid until {status.not_after:%Y-%m-%d}, issued by {status.issuer}"
