"""Send one registration to SPOR and say exactly what happened.

``SporClient.post(registration)`` puts the registration element, unchanged (the very bytes the
message code built), into a SOAP 1.1 envelope, posts it over mutual TLS, and parses the reply
through the WSDL's binding (zeep). It returns a ``SporAnswer`` for the four final answers
(created, updated, rejected, malformed) and raises for everything else:

- ``CertificateError`` (stops the run): TLS handshake failure, or with TLS 1.3 an alert (or a reset
  that a probe shows to be an alert) right after the handshake; HTTP 401/403;
- ``TransientError`` (retry later, within the window): timeouts, resets without a TLS alert,
  connection refused, HTTP 502/503/504, soap:Server faults, HTTP 500 without a fault;
- ``ConfigurationError``/``AnswerError`` (stop the run): wrong endpoint (404 ...), answers that
  do not fit (``Skapade: N`` for another behandlingsnummer, unknown result code).

It never retries: the batch loop owns retries so they respect the sending window (R19).
One client per worker process and configuration (``get_client``), shared by threads: one
keep-alive session, a connection pool sized to the concurrency (engineering note 28).
"""

from __future__ import annotations

import logging
import os
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterator, Protocol
from urllib.parse import urlsplit

from spor.transport.connection import SporConnectionConfig
from spor.errors import CertificateError, ConfigurationError, RunStoppingError, TransientError
from spor.states import State

log = logging.getLogger(__name__)

SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
OPERATION = "postRegistration"
_ENVELOPE_HEAD = f'<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{SOAP11_NS}"><soap:Body>'.encode()
_ENVELOPE_TAIL = b"</soap:Body></soap:Envelope>"


class AnswerError(RunStoppingError):
    """SPOR's answer does not fit what was sent (another behandlingsnummer, unknown result code)."""


class Registration(Protocol):
    behandlingsnummer: str
    element: Any  # lxml element postRegistrationRequest


@dataclass(frozen=True)
class SporAnswer:
    behandlingsnummer: str
    state: State                   # CREATED, UPDATED, REJECTED or MALFORMED
    result_code: str               # 'OK', 'ERROR', or the SOAP fault code (e.g. 'soap:Client')
    result_text: str               # SPOR's text, personal identity numbers masked
    fault_type: str | None = None  # MALFORMED: the XSD type (or element) named, e.g. 'kvakod'
    fault_rule: str | None = None  # MALFORMED: the rule, e.g. 'cvc-pattern-valid'
    http_status: int | None = None
    elapsed_s: float = 0.0


# --- masking (identity.py owns the rule) ---------------------------------------------------------
def _mask(text: str) -> str:
    from spor.build.identity import mask_person_ids

    return mask_person_ids(text)


# --- classification helpers ----------------------------------------------------------------------
_RULE = re.compile(r"\b(cvc-[A-Za-z0-9.\-]*[A-Za-z0-9])(?=:)")
_TYPE = re.compile(r"for type '([^']+)'")
_ELEMENT = re.compile(r"(?:of element|starting with element|content of element) '([^']+)'")
_OK_TEXT = re.compile(r"^\s*(Skapade|Uppdaterade)\s*:\s*(\S+)\s*$")


def parse_fault(faultstring: str) -> tuple[str | None, str | None]:
    """(type, rule) from a Java-stack schema fault, e.g. ('kvakod', 'cvc-pattern-valid')."""
    rule = _RULE.search(faultstring)
    named = _TYPE.search(faultstring) or _ELEMENT.search(faultstring)
    type_name = named.group(1).rsplit("}", 1)[-1].split(":")[-1] if named else None
    return type_name, rule.group(1) if rule else None


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


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    """Every exception reachable from ``exc`` once: causes, contexts, exception arguments, and the
    ``reason`` / ``original_error`` that urllib3 wraps (MaxRetryError, ProtocolError)."""
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen or not isinstance(e, BaseException):
            continue
        seen.add(id(e))
        yield e
        stack.extend([e.__cause__, e.__context__, *[a for a in e.args if isinstance(a, BaseException)]])
        stack.extend(v for v in (getattr(e, "reason", None), getattr(e, "original_error", None))
                     if isinstance(v, BaseException))


def _ssl_reason(exc: BaseException | None) -> str | None:
    """The reason of an ssl.SSLError anywhere in the exception's chain or arguments (e.g. an alert)."""
    for e in _chain(exc):
        if isinstance(e, ssl.SSLError):
            reason = e.reason or ""
            text = f"{reason} {e}".upper()
            if any(key in text for key, _ in _TLS_CAUSES) or "ALERT" in text:
                return reason or str(e)
    return None


def _has(exc: BaseException | None, kinds: tuple[type, ...]) -> bool:
    return any(isinstance(e, kinds) for e in _chain(exc))


def likely_cause(reason: str) -> str:
    upper = reason.upper()
    for key, cause in _TLS_CAUSES:
        if key in upper:
            return cause
    return "the TLS connection was refused (certificate, key, CA or expiry)"


# --- the client ------------------------------------------------------------------------------------
class _PinnedTlsAdapter:
    """Factory for an HTTPAdapter that owns our SSLContext (encrypted keys, PKCS#12: note 24)."""

    @staticmethod
    def create(ssl_context: ssl.SSLContext, pool_size: int):
        from requests.adapters import HTTPAdapter

        class PinnedTlsAdapter(HTTPAdapter):
            def init_poolmanager(self, connections, maxsize, block=False, **pool_kwargs):
                pool_kwargs["ssl_context"] = ssl_context
                return super().init_poolmanager(connections, maxsize, block=block, **pool_kwargs)

            def proxy_manager_for(self, proxy, **proxy_kwargs):
                proxy_kwargs["ssl_context"] = ssl_context
                return super().proxy_manager_for(proxy, **proxy_kwargs)

            def cert_verify(self, conn, url, verify, cert):
                # requests would load its default CA bundle into our context: the context already
                # pins the configured CA, so only insist on verification.
                conn.cert_reqs = "CERT_REQUIRED"
                conn.ca_certs = None
                conn.ca_cert_dir = None

        # pool_block: threads wait for a kept-alive connection instead of opening throwaway ones.
        return PinnedTlsAdapter(pool_connections=1, pool_maxsize=pool_size, pool_block=True, max_retries=0)


def quiet_zeep_transport_logging() -> None:
    """zeep logs whole envelopes (personal data) on 'zeep.transports' at DEBUG (note 26): never."""
    logger = logging.getLogger("zeep.transports")
    logger.setLevel(logging.WARNING)
    if not any(isinstance(f, _DropBelowWarning) for f in logger.filters):
        logger.addFilter(_DropBelowWarning())  # holds even if someone lowers the level again


class _DropBelowWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


class SporClient:
    """One SPOR endpoint, one keep-alive session, shared by threads."""

    def __init__(self, config: SporConnectionConfig, *, pool_size: int = 8, temp_dir: str | None = None):
        import requests
        import zeep
        from zeep.transports import Transport

        from spor.transport.tlsfiles import build_ssl_context

        quiet_zeep_transport_logging()
        self.config = config
        self.pool_size = pool_size
        self.ssl_context = build_ssl_context(config, temp_dir=temp_dir)
        session = requests.Session()
        session.trust_env = False  # REQUESTS_CA_BUNDLE / HTTPS_PROXY must not override us (notes 23, 30)
        session.verify = True
        if config.proxy:
            session.proxies = {"https": config.proxy}
        self._adapter = _PinnedTlsAdapter.create(self.ssl_context, pool_size)
        session.mount("https://", self._adapter)
        session.mount("http://", _RefusePlainHttp())
        self.session = session
        self._zeep = zeep.Client(self._wsdl(), transport=Transport(session=session, timeout=config.read_timeout,
                                                                     operation_timeout=config.timeout),
                                 settings=zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True,
                                                        # the WSDL at <endpoint>?wsdl imports its XSD by URL
                                                        forbid_external=False))
        self._binding = self._zeep.service._binding
        self._operation = self._binding.get(OPERATION)
        action = self._operation.soapaction or ""
        self._headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{action}"'}

    def _wsdl(self) -> str:
        if self.config.wsdl_location:
            return self.config.wsdl_location
        from spor.build.schema_files import load_schema

        schema = load_schema()
        if schema.wsdl_path is None:
            raise ConfigurationError("the schema location holds no WSDL: set wsdl_location on the SPOR connection")
        return str(schema.wsdl_path)

    def close(self) -> None:
        self.session.close()

    # --- sending ------------------------------------------------------------------------------
    @staticmethod
    def envelope(registration: Registration) -> bytes:
        """The SOAP envelope around the registration element's own bytes (not rebuilt by zeep)."""
        body = _element_bytes(getattr(registration, "xml_bytes", None))
        if body is None:
            from lxml import etree

            body = etree.tostring(registration.element, encoding="utf-8")
        return _ENVELOPE_HEAD + body + _ENVELOPE_TAIL

    def post(self, registration: Registration) -> SporAnswer:
        import requests

        nr = str(registration.behandlingsnummer)
        data = self.envelope(registration)
        started = time.perf_counter()
        try:
            # Straight to the session's adapter: no cookies, hooks, redirects or environment
            # merging to do per call (a third of the client's CPU per request).
            request = requests.PreparedRequest()
            request.prepare(method="POST", url=self.config.endpoint, headers=self._headers, data=data)
            response = self._adapter.send(request, timeout=self.config.timeout, verify=True,
                                          proxies=self.session.proxies)
            # Read the body now, as Session.send did: an unread answer (a 503 raised on below)
            # never returns its connection to the blocking pool, and after pool_size of them
            # every thread waits forever (found by tests/dags/test_windows_e2e.py, helper G).
            response.content  # noqa: B018
        except requests.exceptions.SSLError as exc:
            raise self._ssl_error(nr, exc) from exc
        except requests.exceptions.ConnectTimeout as exc:
            raise TransientError(f"{nr}: no connection to SPOR within {self.config.connect_timeout:g} s") from exc
        except requests.exceptions.ReadTimeout as exc:
            # SPOR may still have stored it; sending again is safe (it replaces by behandlingsnummer).
            raise TransientError(f"{nr}: no answer from SPOR within {self.config.read_timeout:g} s") from exc
        except requests.exceptions.ConnectionError as exc:
            raise self._connection_error(nr, exc) from exc
        elapsed = time.perf_counter() - started
        answer = self._answer(nr, response, elapsed)
        log.debug("SPOR answered %s for behandlingsnummer %s in %.3f s", answer.state.value, nr, elapsed)
        return answer

    def _answer(self, nr: str, response: Any, elapsed: float) -> SporAnswer:
        from zeep.exceptions import Fault, TransportError, XMLParseError, XMLSyntaxError

        status = response.status_code
        if status in (502, 503, 504):
            raise TransientError(f"{nr}: SPOR answered HTTP {status} (temporarily unavailable)")
        if status in (401, 403):
            raise CertificateError(f"SPOR refused the client certificate at HTTP level (HTTP {status}); "
                                   f"{self.config.describe()}")
        if status not in (200, 500):
            raise ConfigurationError(f"SPOR answered HTTP {status} at {self.config.endpoint}: check the endpoint URL")
        try:
            result = self._binding.process_reply(self._zeep, self._operation, response)
        except Fault as fault:
            return self._fault_answer(nr, fault, status, elapsed)
        except (TransportError, XMLSyntaxError, XMLParseError) as exc:
            # No parseable SOAP: a 500 from a proxy or a crashed service. Content not quoted (personal data).
            if status == 500:
                raise TransientError(f"{nr}: SPOR answered HTTP 500 without a SOAP fault") from None
            raise AnswerError(f"{nr}: SPOR's answer is not SOAP this client understands ({type(exc).__name__})") from None
        code = str(_field(result, "resultCode") or "").strip()
        text = str(_field(result, "resultText") or "")
        masked = _mask(text)
        if code == "OK":
            m = _OK_TEXT.match(text)
            if not m:
                raise AnswerError(f"{nr}: SPOR answered OK with an unexpected text {masked!r}")
            if m.group(2) != nr:
                raise AnswerError(f"{nr}: SPOR answered {m.group(1)} for behandlingsnummer {_mask(m.group(2))}, "
                                  "not the one sent: answers are mixed up, stopping")
            state = State.CREATED if m.group(1) == "Skapade" else State.UPDATED
            return SporAnswer(nr, state, code, masked, http_status=status, elapsed_s=elapsed)
        if code == "ERROR":
            return SporAnswer(nr, State.REJECTED, code, masked, http_status=status, elapsed_s=elapsed)
        raise AnswerError(f"{nr}: SPOR answered an unknown result code {_mask(code)!r}")

    def _fault_answer(self, nr: str, fault: Any, status: int, elapsed: float) -> SporAnswer:
        text = _mask(str(fault.message or ""))
        code = str(fault.code or "")
        type_name, rule = parse_fault(text)
        is_schema = bool(rule) or "Unmarshalling" in text or code.rsplit(":", 1)[-1].rsplit("}", 1)[-1] == "Client"
        if not is_schema:
            raise TransientError(f"{nr}: SPOR's service failed (SOAP fault {code or 'without code'}, HTTP {status})")
        return SporAnswer(nr, State.MALFORMED, code or "soap:Client", text, fault_type=type_name, fault_rule=rule,
                          http_status=status, elapsed_s=elapsed)

    # --- classification of connection failures -------------------------------------------------
    def _certificate_error(self, nr: str, reason: str) -> CertificateError:
        local = _local_diagnosis(self.config)
        cause = likely_cause(reason)
        return CertificateError(f"TLS with SPOR failed ({reason}) while sending {nr}: {cause}"
                                f"{'; ' + local if local else ''}. {self.config.describe()}")

    def _ssl_error(self, nr: str, exc: BaseException) -> Exception:
        reason = _ssl_reason(exc)
        if reason:
            return self._certificate_error(nr, reason)
        # An SSL error without an alert (e.g. EOF: the server hung up before its alert was read).
        alert = self.probe_tls_alert()
        if alert:
            return self._certificate_error(nr, alert)
        if self.probe_handshake_ok():
            return TransientError(f"{nr}: the TLS connection to SPOR broke off (the handshake itself works)")
        return self._certificate_error(nr, type(exc).__name__)

    def _connection_error(self, nr: str, exc: BaseException) -> Exception:
        reason = _ssl_reason(exc)
        if reason:  # TLS 1.3: the server's verdict on the certificate arrives as an alert on first read
            return self._certificate_error(nr, reason)
        if _has(exc, (ConnectionRefusedError,)):
            return TransientError(f"{nr}: SPOR refused the connection (service down?)")
        # A reset or a close without an answer. With TLS 1.3 this may be a certificate rejection that
        # lost the race with our request (python/cpython#110197): ask the server once without a request.
        alert = self.probe_tls_alert()
        if alert:
            return self._certificate_error(nr, alert)
        return TransientError(f"{nr}: the connection to SPOR was dropped without an answer")

    def probe_handshake_ok(self) -> bool:
        """True when a fresh TLS handshake with the server succeeds (and is not refused at once)."""
        return self._probe(wait_s=0.3) == "accepted"

    def probe_tls_alert(self, wait_s: float = 1.0) -> str | None:
        """Open a fresh TLS connection, send nothing, and listen: an alert means the certificate was refused."""
        verdict = self._probe(wait_s)
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
                        return _ssl_reason(exc) or "unknown"
                    except TimeoutError:
                        return "accepted"  # the server kept us and waits for a request
                    except OSError:
                        return "unknown"
                    return "unknown" if not data else "accepted"
        except ssl.SSLError as exc:
            return _ssl_reason(exc) or "unknown"
        except OSError:
            return "unknown"


class _RefusePlainHttp:
    """Mounted on http:// so nothing is ever sent unencrypted (the endpoint must be https)."""

    def send(self, request, **kwargs):
        raise ConfigurationError("refusing to send over plain http: the SPOR endpoint must be https://")

    def close(self) -> None:
        pass


_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*\?>\s*")


def _element_bytes(xml_bytes: Any) -> bytes | None:
    """The built bytes without their XML declaration, when they are UTF-8 (else None: re-serialize)."""
    if not isinstance(xml_bytes, (bytes, bytearray)) or not xml_bytes:
        return None
    m = _DECLARATION.match(xml_bytes)
    if m is None:
        return bytes(xml_bytes)
    encoding = re.search(rb"encoding\s*=\s*['\"]([A-Za-z0-9_.\-]+)['\"]", m.group(0))
    if encoding and encoding.group(1).lower() not in (b"utf-8", b"utf8"):
        return None
    return bytes(xml_bytes[m.end():])


def _field(result: Any, name: str) -> Any:
    if result is None:
        return None
    if isinstance(result, dict):
        return result.get(name)
    return getattr(result, name, None)


def _local_diagnosis(config: SporConnectionConfig) -> str:
    """What our own check says about the certificate (expired, not yet valid, key mismatch), if anything."""
    from datetime import datetime, timezone

    from spor.transport.certificate import check_certificate

    try:
        status = check_certificate(config, now=datetime.now(timezone.utc))
    except CertificateError as exc:
        return f"local check: {exc}"
    except Exception:  # noqa: BLE001 - a diagnosis must never hide the real error
        return ""
    return f"local check: certificate valid until {status.not_after:%Y-%m-%d}, issued by {status.issuer}"


# --- one client per worker process ---------------------------------------------------------------
_clients: dict[tuple[int, SporConnectionConfig, int], SporClient] = {}
_clients_lock = threading.Lock()


def get_client(config: SporConnectionConfig, *, pool_size: int | None = None) -> SporClient:
    """The process's client for this configuration (made once, then reused by every thread)."""
    size = pool_size or config.pool_size
    key = (os.getpid(), config, size)  # a forked worker makes its own (sockets do not survive fork)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = SporClient(config, pool_size=size)
            _clients[key] = client
        return client
