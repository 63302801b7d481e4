"""Each SPOR environment's SITHS function certificate expiry, kept when the run checks it.

The status page and the certificate alert read it from here: the API server never opens the
certificate itself. A function certificate names a system, not a person.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from spor.state.database import StateDB
from spor.state.tables import certificate


@dataclass(frozen=True)
class CertificateExpiry:
    environment: str
    spor_conn_id: str
    not_after: datetime
    checked_at: datetime
    run_id: str | None

    def days_left(self, now: datetime) -> int:
        return (self.not_after - now).days


def record(db: StateDB, environment: str, spor_conn_id: str, not_after: datetime, run_id: str | None) -> None:
    values = {"spor_conn_id": spor_conn_id, "not_after": not_after, "checked_at": db.now(), "run_id": run_id}
    with db.write() as conn:
        if not conn.execute(certificate.update().where(certificate.c.environment == environment).values(**values)).rowcount:
            conn.execute(certificate.insert().values(environment=environment, **values))


def all_environments(db: StateDB) -> list[CertificateExpiry]:
    with db.read() as conn:
        return [CertificateExpiry(r.environment, r.spor_conn_id, r.not_after, r.checked_at, r.run_id)
                for r in conn.execute(sa.select(certificate).order_by(certificate.c.environment))]
