"""The SPOR connection: endpoint, environment, client certificate, CA, proxy, WSDL, timeouts.

Built from an Airflow connection (``SporConnectionConfig.from_connection``) but free of Airflow, so
it is tested and used without it. The same fields work from the UI (a generic connection with the
Extra JSON) and from ``AIRFLOW_CONN_SPOR_DEFAULT='{"conn_type": "spor", "host": "https://...",
"password": "...", "extra": {...}}'``. Fields and the three real endpoints: docs/connection.md.
Nothing here has a default endpoint, certificate or path: they all come from the connection.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from spor.errors import ConfigurationError
from spor.settings import ENVIRONMENTS as ENVIRONMENTS  # the labels' home is spor.settings

#: The guide's three SPOR hosts and the label each one must carry. Other hosts (a stand-in, a
#: proxy's name) are not constrained.
ENDPOINT_HOSTS = {
    "integration.ucr.uu.se": "production",
    "test-integration.ucr.uu.se": "stage",
    "ucrtestserv01.ucr.uu.se": "stage-test-cert",
}


def ledger_environment(label: str) -> str:
    """The SPOR environment a connection label writes into: the key of the ledger, the outbox and
    removal requests. Stage is one environment with two entrances (real and test certificate), so
    both stage labels share stage's ledger (docs/adr/0007-stage-entrances-share-one-ledger.md)."""
    return "stage" if label == "stage-test-cert" else label


def check_environment_host(label: str, endpoint: str | None, conn_id: str | None = None) -> None:
    """Refuse a label that does not fit the endpoint's host, when the host is one of SPOR's own:
    production labelled ``stage`` would look already sent (the ledger is keyed by environment)."""
    host = (urlsplit(endpoint or "").hostname or "").rstrip(".").lower()
    expected = ENDPOINT_HOSTS.get(host)
    if expected is not None and expected != label:
        raise ConfigurationError(
            f"SPOR connection {conn_id}: environment {label!r} does not fit endpoint host {host}, which is "
            f"SPOR's {expected} (set environment to {expected!r} or correct the endpoint; see docs/connection.md)")


def environment_label(extra: Mapping[str, Any] | str | None, conn_id: str | None = None,
                      endpoint: str | None = None) -> str:
    """The ``environment`` a SPOR connection's extra names, checked against the three labels and,
    when one of SPOR's hosts is the endpoint (``extra.endpoint`` wins over ``endpoint``, the host
    field's URL), against that host, without reading the rest of the connection (no certificate
    is opened)."""
    if isinstance(extra, str):
        try:
            extra = json.loads(extra) if extra.strip() else {}
        except ValueError:
            raise ConfigurationError(f"SPOR connection {conn_id}: extra is not valid JSON") from None
    values = {key.split("__")[-1]: value for key, value in dict(extra or {}).items()}
    label = values.get("environment")
    if label in (None, ""):
        raise ConfigurationError(f"SPOR connection {conn_id}: missing environment (see docs/connection.md)")
    if label not in ENVIRONMENTS:
        raise ConfigurationError(f"SPOR connection {conn_id}: environment must be one of {', '.join(ENVIRONMENTS)}")
    check_environment_host(str(label), str(values.get("endpoint") or endpoint or ""), conn_id)
    return str(label)

#: Extra keys a connection may carry (everything else is refused, so a typo does not go unnoticed).
EXTRA_FIELDS = (
    "endpoint", "environment",
    "cert_file", "key_file",          # PEM files on the worker
    "cert_pem", "key_pem",            # PEM content (e.g. from a secrets backend)
    "pkcs12_file",                    # PKCS#12 (.p12/.pfx) file; its password is the connection password
    "pkcs12_b64",                     # the same file's content in base64 (secrets backends hand out content)
    "key_password",                   # password of an encrypted key or of the PKCS#12 (default: connection password)
    "ca_bundle", "ca_pem",            # CA to trust for SPOR's server certificate (pinned: nothing else)
    "proxy",                          # explicit HTTPS proxy, e.g. http://proxy.region.se:8080
    "wsdl_location",                  # default: the WSDL shipped with the package (spor.registration.schema_files)
    "connect_timeout", "read_timeout", "pool_size",
)
_SECRET = frozenset({"key_pem", "key_password", "pkcs12_b64"})


@dataclass(frozen=True)
class SporConnectionConfig:
    endpoint: str
    environment: str
    cert_file: str | None = None
    key_file: str | None = None
    cert_pem: str | None = field(default=None, repr=False)
    key_pem: str | None = field(default=None, repr=False)
    pkcs12_file: str | None = None
    pkcs12_b64: str | None = field(default=None, repr=False)
    key_password: str | None = field(default=None, repr=False)
    ca_bundle: str | None = None
    ca_pem: str | None = field(default=None, repr=False)
    proxy: str | None = None
    wsdl_location: str | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    pool_size: int = 8
    conn_id: str | None = None

    def __post_init__(self) -> None:
        where = f"SPOR connection {self.conn_id or ''}".rstrip()
        if not self.endpoint or not self.endpoint.lower().startswith("https://"):
            raise ConfigurationError(f"{where}: endpoint must be an https:// URL (see docs/connection.md for the three SPOR endpoints)")
        if self.environment not in ENVIRONMENTS:
            raise ConfigurationError(f"{where}: environment must be one of {', '.join(ENVIRONMENTS)}")
        check_environment_host(self.environment, self.endpoint, self.conn_id)
        forms = [name for name, present in (
            ("PEM files (cert_file)", bool(self.cert_file)),
            ("PEM content (cert_pem)", bool(self.cert_pem)),
            ("PKCS#12 (pkcs12_file)", bool(self.pkcs12_file)),
            ("PKCS#12 content (pkcs12_b64)", bool(self.pkcs12_b64)),
        ) if present]
        if len(forms) != 1:
            raise ConfigurationError(
                f"{where}: give the client certificate in exactly one form: cert_file [+ key_file], "
                f"cert_pem [+ key_pem], pkcs12_file or pkcs12_b64 (found: {', '.join(forms) or 'none'})")
        if self.key_file and not self.cert_file or self.key_pem and not self.cert_pem:
            raise ConfigurationError(f"{where}: a key without its certificate")
        if not (self.ca_bundle or self.ca_pem):
            raise ConfigurationError(
                f"{where}: no CA to trust (ca_bundle or ca_pem): SPOR's server chains to SITHS Type 3 CA v1 "
                "(production, stage) or SITHS Type 3 CA v1 PP (stage with test certificate)")
        if self.proxy and "://" not in self.proxy:
            raise ConfigurationError(f"{where}: proxy must be a URL such as http://proxy.example:8080")
        if self.connect_timeout <= 0 or self.read_timeout <= 0 or self.pool_size < 1:
            raise ConfigurationError(f"{where}: timeouts must be positive and pool_size at least 1")

    # --- construction ----------------------------------------------------------------------
    @classmethod
    def from_mapping(cls, extra: Mapping[str, object] | str | None, *, host: str | None = None,
                     port: int | None = None, schema: str | None = None, password: str | None = None,
                     conn_id: str | None = None) -> SporConnectionConfig:
        """From the parts of an Airflow connection (host/port/schema/password + extra JSON)."""
        if isinstance(extra, str):
            try:
                extra = json.loads(extra) if extra.strip() else {}
            except ValueError:
                raise ConfigurationError(f"SPOR connection {conn_id}: extra is not valid JSON") from None
        values: dict[str, Any] = {}
        for key, value in dict(extra or {}).items():
            name = key.split("__")[-1] if key.startswith("extra__") else key  # old UI form prefixes
            if name not in EXTRA_FIELDS:
                raise ConfigurationError(f"SPOR connection {conn_id}: unknown extra field {name!r}; known: {', '.join(EXTRA_FIELDS)}")
            if value not in (None, ""):
                values[name] = value
        if "endpoint" not in values and host:
            values["endpoint"] = endpoint_from_parts(host, port, schema)
        if port and "endpoint" in values and int(port) != endpoint_port(str(values["endpoint"])):
            raise ConfigurationError(f"SPOR connection {conn_id}: Port {port} is not the endpoint's port "
                                     f"{endpoint_port(str(values['endpoint']))} (leave it at the endpoint's, 443 "
                                     "when the URL names none; see docs/connection.md)")
        if "key_password" not in values and password:
            values["key_password"] = password
        for name in ("connect_timeout", "read_timeout"):
            if name in values:
                values[name] = _number(values[name], name, conn_id, float)
        if "pool_size" in values:
            values["pool_size"] = _number(values["pool_size"], "pool_size", conn_id, int)
        missing = [n for n in ("endpoint", "environment") if n not in values]
        if missing:
            raise ConfigurationError(f"SPOR connection {conn_id}: missing {', '.join(missing)} (see docs/connection.md)")
        return cls(conn_id=conn_id, **values)

    @classmethod
    def from_connection(cls, conn: object, conn_id: str | None = None) -> SporConnectionConfig:
        """From an Airflow Connection (or anything with host/port/schema/password/extra)."""
        extra = getattr(conn, "extra_dejson", None)
        if extra is None:
            extra = getattr(conn, "extra", None)
        return cls.from_mapping(extra, host=getattr(conn, "host", None), port=getattr(conn, "port", None),
                                schema=getattr(conn, "schema", None), password=getattr(conn, "password", None),
                                conn_id=conn_id or getattr(conn, "conn_id", None))

    # --- use ------------------------------------------------------------------------------
    @property
    def ledger_environment(self) -> str:
        """The SPOR environment this connection writes into (``ledger_environment``)."""
        return ledger_environment(self.environment)

    @property
    def timeout(self) -> tuple[float, float]:
        """(connect, read) seconds, as requests takes them."""
        return (self.connect_timeout, self.read_timeout)

    @property
    def certificate_form(self) -> str:
        if self.pkcs12_file or self.pkcs12_b64:
            return "pkcs12"
        return "pem_content" if self.cert_pem else "pem_files"

    def describe(self) -> str:
        """A one-line summary safe for logs: no key, password or PEM content."""
        cert = self.pkcs12_file or self.cert_file or ("PKCS#12 content" if self.pkcs12_b64 else "PEM content")
        return (f"SPOR {self.environment} at {self.endpoint} (certificate: {cert}; "
                f"CA: {self.ca_bundle or 'PEM content'}; proxy: {self.proxy or 'none'})")


def endpoint_port(endpoint: str) -> int:
    """The TCP port an endpoint URL reaches: its own, else 443. A stored ``spor`` connection keeps
    it as its Port, so the Test button's check that the tested endpoint is the stored one holds."""
    try:
        return urlsplit(endpoint).port or 443
    except ValueError:
        raise ConfigurationError(f"endpoint {endpoint!r} has no valid port") from None


def endpoint_from_parts(host: str, port: int | None, schema: str | None) -> str:
    """The endpoint URL from an Airflow connection's host (a URL, or a bare host), port and schema (path)."""
    if "://" in host:  # the whole URL in the host field
        return host
    path = (schema or "").strip("/")
    return f"https://{host}{f':{port}' if port else ''}/{path}"


_Number = TypeVar("_Number", int, float)


def _number(value: object, name: str, conn_id: str | None, kind: type[_Number]) -> _Number:
    if not isinstance(value, (str, int, float)):  # JSON gives nothing else that could be a number
        raise ConfigurationError(f"SPOR connection {conn_id}: {name} must be a number")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"SPOR connection {conn_id}: {name} must be a number") from None
