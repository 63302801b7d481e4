"""Can this connection reach SPOR? One verdict line for the UI's Test button and the CLI.

Checks, in order, and stops at the first that fails: the certificate and key on their own (readable,
valid now, the key matches), the trusted CA, then one mutual-TLS request that changes nothing at
SPOR (``GET <endpoint>?wsdl``) through exactly the session the night sends with (pinned CA, proxy,
timeouts). The verdict names the cause a person can act on: wrong CA, expired certificate,
certificate refused by the server, unknown host, proxy refused, nothing listening, wrong path.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from spor.errors import CertificateError, ConfigurationError
from spor.transport.connection import SporConnectionConfig

if TYPE_CHECKING:
    from spor.transport.client import SporClient


@dataclass(frozen=True)
class Verdict:
    ok: bool
    message: str  # one line, no key material, no personal data


def check_reachability(config: SporConnectionConfig, *, now: datetime | None = None) -> Verdict:
    """Run every check; never raises for a failed check (the verdict says what failed)."""
    from spor.transport.certificate import certificate_status

    now = now or datetime.now(UTC)
    try:
        status = certificate_status(config, now=now)
    except (CertificateError, ConfigurationError) as exc:
        return Verdict(False, f"certificate: {exc}")
    try:
        answer = _fetch_wsdl(config)
    except (CertificateError, ConfigurationError) as exc:
        return Verdict(False, str(exc))
    if answer is not None:
        return Verdict(False, answer)
    expiry = f"certificate valid {status.days_left} more days (until {status.not_after:%Y-%m-%d})"
    return Verdict(True, f"reached SPOR {config.environment} at {config.endpoint} over mutual TLS; {expiry}")


def _fetch_wsdl(config: SporConnectionConfig) -> str | None:
    """None when SPOR answered the WSDL request; otherwise what went wrong."""
    import requests

    from spor.transport.client import SporClient

    client = SporClient(config, pool_size=1)  # builds the SSL context: CA and key problems raise here
    try:
        response = client.session.get(f"{config.endpoint}?wsdl", timeout=config.timeout)
    except requests.exceptions.ProxyError:
        return f"the proxy {config.proxy} refused the connection or the tunnel to {_host_port(config)}"
    except requests.exceptions.SSLError as exc:
        return _tls_failure(client, exc)
    except requests.exceptions.ConnectTimeout:
        return f"no answer from {_host_port(config)} within {config.connect_timeout:g} s (firewall, or wrong host)"
    except requests.exceptions.ReadTimeout:
        return f"{_host_port(config)} accepted the connection but did not answer within {config.read_timeout:g} s"
    except requests.exceptions.ConnectionError as exc:
        return _connection_failure(client, config, exc)
    finally:
        client.close()
    if response.status_code in (401, 403):
        return f"SPOR refused this client certificate (HTTP {response.status_code}): is it registered with UCR for this SystemId?"
    if response.status_code != 200 or b"definitions" not in response.content[:2000]:
        return (f"HTTP {response.status_code} from {config.endpoint}?wsdl: not SPOR's RegistrationService; "
                "check the endpoint path")
    return None


def _host_port(config: SporConnectionConfig) -> str:
    parts = urlsplit(config.endpoint)
    return f"{parts.hostname}:{parts.port or 443}"


def _tls_failure(client: SporClient, exc: BaseException) -> str:
    from spor.transport.failures import likely_cause, tls_alert_reason

    if "CERTIFICATE_VERIFY_FAILED" in str(exc).upper() or "CERTIFICATE VERIFY FAILED" in str(exc).upper():
        return ("wrong CA: SPOR's server certificate does not chain to the CA configured in ca_bundle/ca_pem "
                "(production and stage: SITHS Type 3 CA v1; stage-test-cert: SITHS Type 3 CA v1 PP)")
    # The server's alert may be lost when it hangs up first: ask it once more without a request.
    reason = tls_alert_reason(exc) or client.probe_tls_alert()
    if reason:
        return f"SPOR refused the client certificate ({reason}): {likely_cause(reason)}"
    return f"the TLS handshake with {_host_port(client.config)} failed and the server gave no reason"


def _connection_failure(client: SporClient, config: SporConnectionConfig, exc: BaseException) -> str:
    from spor.transport.failures import exception_chain, likely_cause, tls_alert_reason

    host = urlsplit(config.endpoint).hostname or ""
    if any(isinstance(e, socket.gaierror) for e in exception_chain(exc)) or "NameResolution" in repr(exc):
        return f"unknown host {host}: the name does not resolve (DNS, or a typo in the endpoint)"
    if any(isinstance(e, ConnectionRefusedError) for e in exception_chain(exc)):
        return f"nothing listens at {_host_port(config)} (connection refused)"
    reason = tls_alert_reason(exc) or client.probe_tls_alert()
    if reason:  # TLS 1.3: the server's verdict on our certificate arrives after the handshake
        return f"SPOR refused the client certificate ({reason}): {likely_cause(reason)}"
    return f"the connection to {_host_port(config)} was dropped without an answer"
