"""The package's two asset URI schemes, registered in ``get_provider_info`` (``asset-uris``):
Airflow normalises a URI with the handler, builds an Asset with the factory, and the OpenLineage
provider turns an Asset into a dataset with the converter.

``spor-ops://HOST[:PORT]/DATABASE/VIEW?dialect=DIALECT``
    one integration view of the source contract (docs/source-contract.md) in the OPS database.
    OpenLineage: namespace ``DIALECT://HOST:PORT``, name ``DATABASE.VIEW`` (its naming for SQL
    databases); a SQLite file (host ``localhost``, the file's path as DATABASE): namespace
    ``sqlite://localhost/PATH``, name ``VIEW``.
``spor://HOST[:PORT]/ENVIRONMENT``
    SPOR's RegistrationService of one environment, at the host of the connection's endpoint.
    OpenLineage: namespace ``spor://HOST[:PORT]``, name ``ENVIRONMENT``.

Imported by every Airflow component that meets one of these URIs: nothing heavy at import time.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, parse_qsl, urlsplit

from spor.extract.contract import CONTRACT_TABLES

if TYPE_CHECKING:
    from airflow.sdk import Asset

OPS_SCHEME = "spor-ops"
SPOR_SCHEME = "spor"

#: The asset alias send_batch resolves at run time to the SPOR Asset of the run's environment.
SENT_TO_SPOR = "sent_to_spor"

#: The views a run reads: the treatments, their child lists and the block list.
OPS_VIEWS = CONTRACT_TABLES

#: Airflow connection type -> the dialect OpenLineage names in a namespace.
DIALECTS = {"postgres": "postgres", "postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql",
            "mssql": "mssql", "oracle": "oracle", "sqlite": "sqlite"}
DEFAULT_PORTS = {"postgres": 5432, "mysql": 3306, "mssql": 1433, "oracle": 1521}
HTTPS_PORT = 443
FILE_HOST = "localhost"  # a file database has no host; OpenLineage's file namespaces say localhost

_WORD = re.compile(r"[a-z][a-z0-9_]*")


# --- spor-ops: a view in the OPS database ---------------------------------------------------
def sanitize_ops_uri(uri: SplitResult) -> SplitResult:
    """Airflow's URI handler for ``spor-ops``: lower-case host and dialect, the dialect's default
    port, and a database and a view in the path."""
    query = dict(parse_qsl(uri.query))
    dialect = query.get("dialect", "").lower()
    if not _WORD.fullmatch(dialect):
        raise ValueError(f"{OPS_SCHEME}:// needs ?dialect=<database kind>, e.g. ?dialect=postgres")
    host = (uri.hostname or "").lower()
    if not host:
        raise ValueError(f"{OPS_SCHEME}:// needs a host ({FILE_HOST} for a file database)")
    port = uri.port or DEFAULT_PORTS.get(dialect)
    parts = [p for p in uri.path.split("/") if p]
    if len(parts) < 2:
        raise ValueError(f"{OPS_SCHEME}:// needs /DATABASE/VIEW after the host")
    return uri._replace(netloc=f"{host}:{port}" if port else host, path="/" + "/".join(parts),
                        query=f"dialect={dialect}")


def create_ops_asset(*, dialect: str, host: str, database: str, view: str, port: int | None = None) -> Asset:
    """The Asset of one OPS view (the factory Airflow's ``asset-uris`` names)."""
    from airflow.sdk import Asset

    netloc = f"{host}:{port}" if port else host
    return Asset(uri=f"{OPS_SCHEME}://{netloc}/{database.strip('/')}/{view}?dialect={dialect}")


def ops_to_openlineage(asset: Asset, lineage_context: Any = None) -> Any:
    """The OpenLineage dataset of an OPS view (the converter Airflow's ``asset-uris`` names)."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    parsed = urlsplit(asset.uri)
    dialect = dict(parse_qsl(parsed.query))["dialect"]
    *database, view = [p for p in parsed.path.split("/") if p]
    if dialect == "sqlite":
        return Dataset(namespace=f"sqlite://{parsed.netloc}/{'/'.join(database)}", name=view)
    return Dataset(namespace=f"{dialect}://{parsed.netloc}", name=f"{'.'.join(database)}.{view}")


def ops_assets(conn: Any, views: tuple[str, ...] = OPS_VIEWS) -> list[Asset]:
    """The Assets of the OPS views behind an Airflow connection: its type, host, port and database
    (the connection's schema field; a SQLite connection's host is the file). No login or password."""
    conn_type = str(conn.conn_type or "").lower()
    dialect = DIALECTS.get(conn_type, conn_type)
    if dialect == "sqlite":
        host, port, database = FILE_HOST, None, str(conn.host or "")
    else:
        extra = conn.extra_dejson or {}
        host, port = str(conn.host or ""), conn.port
        database = str(conn.schema or extra.get("database") or extra.get("service_name") or "default")
    return [create_ops_asset(dialect=dialect, host=host, port=port, database=database, view=v) for v in views]


def ops_assets_for(conn_id: str, views: tuple[str, ...] = OPS_VIEWS) -> list[Asset]:
    """:func:`ops_assets` of the connection ``conn_id`` (read when a task runs)."""
    from airflow.sdk import BaseHook

    return ops_assets(BaseHook.get_connection(conn_id), views)


# --- spor: SPOR's RegistrationService of one environment --------------------------------------
def sanitize_spor_uri(uri: SplitResult) -> SplitResult:
    """Airflow's URI handler for ``spor``: lower-case host, no default port, one environment."""
    host = (uri.hostname or "").lower()
    if not host:
        raise ValueError(f"{SPOR_SCHEME}:// needs the host of the SPOR endpoint")
    parts = [p for p in uri.path.split("/") if p]
    if len(parts) != 1:
        raise ValueError(f"{SPOR_SCHEME}:// needs exactly one path part, the environment: {SPOR_SCHEME}://HOST/ENVIRONMENT")
    netloc = f"{host}:{uri.port}" if uri.port and uri.port != HTTPS_PORT else host
    return uri._replace(netloc=netloc, path=f"/{parts[0].lower()}", query="")


def create_spor_asset(*, endpoint: str, environment: str) -> Asset:
    """The Asset of SPOR's environment behind an https endpoint (the factory)."""
    from airflow.sdk import Asset

    parsed = urlsplit(endpoint)
    host = (parsed.hostname or "").lower()
    netloc = f"{host}:{parsed.port}" if parsed.port and parsed.port != HTTPS_PORT else host
    return Asset(uri=f"{SPOR_SCHEME}://{netloc}/{environment}")


def spor_to_openlineage(asset: Asset, lineage_context: Any = None) -> Any:
    """The OpenLineage dataset of a SPOR environment (the converter)."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    parsed = urlsplit(asset.uri)
    return Dataset(namespace=f"{SPOR_SCHEME}://{parsed.netloc}", name=parsed.path.strip("/"))
