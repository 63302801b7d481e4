"""Send one registration to SPOR over mutual TLS and return what SPOR answered.

``SporClient.post(registration)`` puts the registration element, unchanged (the very bytes the
message code built), into a SOAP 1.1 envelope and posts it over mutual TLS with the connection's
timeouts. What the reply means is read by ``spor.transport.answers`` (a ``SporAnswer`` for the four
final answers, or a typed error); what a failed connection means is decided by
``spor.transport.failures`` (``CertificateError`` or ``TransientError``).

It never retries: the batch loop owns retries so they respect the sending window (R19).
One client per worker process and configuration (``get_client``), shared by threads: one
keep-alive session, with a connection pool sized to the concurrency.
"""

from __future__ import annotations

import logging
import os
import re
import ssl
import threading
import time
from typing import TYPE_CHECKING, Protocol

from spor.errors import ConfigurationError, TransientError
from spor.transport.answers import AnswerReader, SporAnswer
from spor.transport.binding import check_binding
from spor.transport.connection import SporConnectionConfig
from spor.transport.failures import FailureClassifier

if TYPE_CHECKING:
    from lxml import etree
    from requests import PreparedRequest, Response
    from requests.adapters import BaseAdapter, HTTPAdapter
    from urllib3 import HTTPSConnectionPool, PoolManager

__all__ = ["OPERATION", "SOAP11_NS", "Sendable", "SporClient", "get_client", "quiet_zeep_transport_logging"]

log = logging.getLogger(__name__)

SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
OPERATION = "postRegistration"
_ENVELOPE_HEAD = f'<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{SOAP11_NS}"><soap:Body>'.encode()
_ENVELOPE_TAIL = b"</soap:Body></soap:Envelope>"


class Sendable(Protocol):
    """What the client needs of a registration: its number, and the element to put in the body.

    An ``xml_bytes`` attribute, when present, is sent instead of serialising the element again."""

    @property
    def behandlingsnummer(self) -> str: ...
    @property
    def element(self) -> etree._Element: ...  # postRegistrationRequest


class _PinnedTlsAdapter:
    """Factory for an HTTPAdapter that owns our SSLContext (so encrypted keys and PKCS#12 work)."""

    @staticmethod
    def create(ssl_context: ssl.SSLContext, pool_size: int) -> HTTPAdapter:
        from requests.adapters import HTTPAdapter

        class PinnedTlsAdapter(HTTPAdapter):
            def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: object) -> None:
                pool_kwargs["ssl_context"] = ssl_context
                return super().init_poolmanager(connections, maxsize, block=block, **pool_kwargs)

            def proxy_manager_for(self, proxy: str, **proxy_kwargs: object) -> PoolManager:
                proxy_kwargs["ssl_context"] = ssl_context
                manager: PoolManager = super().proxy_manager_for(proxy, **proxy_kwargs)
                return manager

            def cert_verify(self, conn: HTTPSConnectionPool, url: str, verify: bool | str,
                            cert: str | tuple[str, str] | None) -> None:
                # requests would load its default CA bundle into our context: the context already
                # pins the configured CA, so only insist on verification.
                conn.cert_reqs = "CERT_REQUIRED"
                conn.ca_certs = None
                conn.ca_cert_dir = None

        # pool_block: threads wait for a kept-alive connection instead of opening throwaway ones.
        return PinnedTlsAdapter(pool_connections=1, pool_maxsize=pool_size, pool_block=True, max_retries=0)


def quiet_zeep_transport_logging() -> None:
    """zeep logs whole envelopes (personal data) on 'zeep.transports' at DEBUG: never."""
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
        session.trust_env = False  # REQUESTS_CA_BUNDLE / HTTPS_PROXY from the environment must not override us
        session.verify = True
        if config.proxy:
            session.proxies = {"https": config.proxy}
        self._adapter = _PinnedTlsAdapter.create(self.ssl_context, pool_size)
        session.mount("https://", self._adapter)
        session.mount("http://", _refuse_plain_http())
        self.session = session
        self._zeep = zeep.Client(self._wsdl(), transport=Transport(session=session, timeout=config.read_timeout,
                                                                     operation_timeout=config.timeout),
                                 settings=zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True,
                                                        # the WSDL at <endpoint>?wsdl imports its XSD by URL
                                                        forbid_external=False))
        # The WSDL must describe the call below and the builder's message: else stop, nothing sent.
        from spor.registration.schema_files import load_schema

        check_binding(self._zeep, OPERATION, load_schema())
        self._answers = AnswerReader(self._zeep, OPERATION, config)
        self._failures = FailureClassifier(config, self.ssl_context)
        self._headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{self._answers.soap_action}"'}

    def _wsdl(self) -> str:
        if self.config.wsdl_location:
            return self.config.wsdl_location
        from spor.registration.schema_files import load_schema

        schema = load_schema()
        if schema.wsdl_path is None:
            raise ConfigurationError("the schema location holds no WSDL: set wsdl_location on the SPOR connection")
        return str(schema.wsdl_path)

    def close(self) -> None:
        self.session.close()

    # --- sending ------------------------------------------------------------------------------
    @staticmethod
    def envelope(registration: Sendable) -> bytes:
        """The SOAP envelope around the registration element's own bytes (not rebuilt by zeep)."""
        body = _element_bytes(getattr(registration, "xml_bytes", None))
        if body is None:
            from lxml import etree

            body = etree.tostring(registration.element, encoding="utf-8")
        return _ENVELOPE_HEAD + body + _ENVELOPE_TAIL

    def post(self, registration: Sendable) -> SporAnswer:
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
            # every thread waits forever (found by tests/dags/test_windows_e2e.py).
            response.content  # noqa: B018 - reading the body is the point (see above)
        except requests.exceptions.SSLError as exc:
            raise self._failures.ssl_error(nr, exc) from exc
        except requests.exceptions.ConnectTimeout as exc:
            raise TransientError(f"{nr}: no connection to SPOR within {self.config.connect_timeout:g} s") from exc
        except requests.exceptions.ReadTimeout as exc:
            # SPOR may still have stored it; sending again is safe (it replaces by behandlingsnummer).
            raise TransientError(f"{nr}: no answer from SPOR within {self.config.read_timeout:g} s") from exc
        except requests.exceptions.ConnectionError as exc:
            raise self._failures.connection_error(nr, exc) from exc
        elapsed = time.perf_counter() - started
        answer = self._answers.read(nr, response, elapsed)
        log.debug("SPOR answered %s for behandlingsnummer %s in %.3f s", answer.state.value, nr, elapsed)
        return answer

    # --- probes (fresh connections, no request) -----------------------------------------------
    def probe_handshake_ok(self) -> bool:
        """True when a fresh TLS handshake with the server succeeds (and is not refused at once)."""
        return self._failures.probe_handshake_ok()

    def probe_tls_alert(self, wait_s: float = 1.0) -> str | None:
        """Open a fresh TLS connection, send nothing, and listen: an alert means the certificate was refused."""
        return self._failures.probe_tls_alert(wait_s)


def _refuse_plain_http() -> BaseAdapter:
    """Mounted on http:// so nothing is ever sent unencrypted (the endpoint must be https)."""
    from requests.adapters import BaseAdapter

    class RefusePlainHttp(BaseAdapter):
        def send(self, request: PreparedRequest, *args: object, **kwargs: object) -> Response:
            raise ConfigurationError("refusing to send over plain http: the SPOR endpoint must be https://")

        def close(self) -> None:
            pass

    return RefusePlainHttp()


_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*\?>\s*")


def _element_bytes(xml_bytes: object) -> bytes | None:
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
