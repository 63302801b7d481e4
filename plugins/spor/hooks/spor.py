"""Airflow hook for SPOR's RegistrationService.

    hook = SporHook(spor_conn_id="spor_default")
    client = hook.get_client(pool_size=8)   # one per worker process and connection, reused
    status = hook.certificate_status(now=clock.now())

The connection type ``spor`` has its own form in the UI (declared in :mod:`spor.get_provider_info`);
``AIRFLOW_CONN_SPOR_DEFAULT`` or a secrets backend give the same fields as Extra JSON
(docs/connection.md).
Airflow is imported only here; ``spor.transport.connection`` and ``spor.transport.client`` work without it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from spor.transport.connection import SporConnectionConfig

if TYPE_CHECKING:
    from spor.transport.certificate import CertStatus
    from spor.transport.client import SporClient


class SporHook(BaseHook):
    conn_name_attr = "spor_conn_id"
    default_conn_name = "spor_default"
    conn_type = "spor"
    hook_name = "SPOR RegistrationService"

    def __init__(self, spor_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spor_conn_id = spor_conn_id
        self._config: SporConnectionConfig | None = None

    def get_config(self) -> SporConnectionConfig:
        if self._config is None:
            conn = self.get_connection(self.spor_conn_id)
            self._config = SporConnectionConfig.from_connection(conn, conn_id=self.spor_conn_id)
        return self._config

    def environment_label(self) -> str:
        """The connection's environment label, checked against its endpoint's host when that is
        one of SPOR's, read without the certificate."""
        from spor.transport.connection import endpoint_from_parts, environment_label

        conn = self.get_connection(self.spor_conn_id)
        extra = getattr(conn, "extra_dejson", None)
        host = getattr(conn, "host", None)
        endpoint = endpoint_from_parts(host, getattr(conn, "port", None), getattr(conn, "schema", None)) if host else None
        return environment_label(getattr(conn, "extra", None) if extra is None else extra, self.spor_conn_id,
                                 endpoint=endpoint)

    def environment(self) -> str:
        """The SPOR environment the connection writes into (the ledger's key; both stage entrances
        are stage), read without the certificate."""
        from spor.transport.connection import ledger_environment

        return ledger_environment(self.environment_label())

    def get_conn(self) -> SporClient:
        return self.get_client()

    def get_client(self, pool_size: int | None = None) -> SporClient:
        from spor.transport.client import get_client

        return get_client(self.get_config(), pool_size=pool_size)

    def certificate_status(self, *, now: datetime, warn_days: int = 30) -> CertStatus:
        from spor.transport.certificate import certificate_status

        return certificate_status(self.get_config(), now=now, warn_days=warn_days)

    def test_connection(self) -> tuple[bool, str]:
        """The UI's Test button (run by the API server) and ``spor check-connection`` (on a worker):
        the certificate and key locally, then one mutual-TLS request that changes nothing at SPOR."""
        from spor.transport.reachability import check_reachability

        try:
            config = self.get_config()
        except Exception as exc:  # noqa: BLE001 - reported to the user, not raised
            # The caller names the connection: the UI's button is on its row (the API server tests it
            # under a random id), `spor check-connection` prints it once.
            return False, str(exc).removeprefix(f"SPOR connection {self.spor_conn_id}: ")
        verdict = check_reachability(config)
        return verdict.ok, verdict.message
