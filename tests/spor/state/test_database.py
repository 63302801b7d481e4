"""The state database connection: SQLite in WAL mode with a busy timeout on every connection,
timezone-aware timestamps only (same code on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from spor.state import database as statedb
from spor.state.tables import watermark


def test_sqlite_every_connection_has_wal_and_busy_timeout(tmp_path):
    db = statedb.connect(f"sqlite:///{tmp_path / 's.sqlite'}")
    conns = [db.engine.connect() for _ in range(3)]   # several pooled connections
    try:
        for conn in conns:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == statedb.SQLITE_BUSY_TIMEOUT_MS
    finally:
        for conn in conns:
            conn.close()


def test_timestamps_must_be_timezone_aware(state_db):
    with pytest.raises(sa.exc.StatementError):
        with state_db.write() as conn:
            conn.execute(watermark.insert().values(name="x", value="y", updated_at=datetime(2025, 1, 1)))
