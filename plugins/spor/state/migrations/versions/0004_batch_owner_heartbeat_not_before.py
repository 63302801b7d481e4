"""Batch owners and deferred retries: who sends a batch (host, process, process start, Celery
worker), and when a registration that failed transiently may be tried again.

A batch's owner lets a new run prove the owner dead (its process is gone) instead of waiting out
a lease; ``not_before`` lets the send loop put a registration back and move on (docs/adr/0005).
All columns are nullable: batches and rows written before this revision simply have no owner and
no not-before time.
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

def _batch_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("dag_id", sa.String(250), nullable=True),
        sa.Column("owner_host", sa.String(255), nullable=True),
        sa.Column("owner_pid", sa.Integer, nullable=True),
        sa.Column("owner_started", sa.Float, nullable=True),
        sa.Column("owner_pidns", sa.String(64), nullable=True),
        sa.Column("owner_worker", sa.String(255), nullable=True),
        sa.Column("paused_reason", sa.String(64), nullable=True),
    ]


def _outbox_columns() -> list[sa.Column[object]]:
    return [sa.Column("not_before", sa.DateTime, nullable=True)]


def _schema() -> str | None:
    # ALTER is plain SQL to Alembic: it needs the schema the connection translates tables into.
    translate: Mapping[str | None, str | None] = op.get_bind().get_execution_options().get("schema_translate_map", {})
    return translate.get(None)


def upgrade() -> None:
    schema = _schema()
    for column in _batch_columns():
        op.add_column("spor_batch", column, schema=schema)
    for column in _outbox_columns():
        op.add_column("spor_outbox", column, schema=schema)


def downgrade() -> None:
    schema = _schema()
    with op.batch_alter_table("spor_outbox", schema=schema) as table:
        for column in _outbox_columns():
            table.drop_column(column.name)
    with op.batch_alter_table("spor_batch", schema=schema) as table:
        for column in _batch_columns():
            table.drop_column(column.name)
