"""Baseline: the tables as the first released schema had them.

Frozen copy (later revisions change tables; this one never does). Every table is created only when
missing, so a state database made before Alembic (with its own ``spor_schema_version``) is taken
over as it is, and one made from nothing gets the same tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _baseline() -> sa.MetaData:
    meta = sa.MetaData()

    sa.Table(
        "spor_outbox", meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("environment", sa.String(32), nullable=False),
        sa.Column("system_id", sa.String(64), nullable=False),
        sa.Column("behandlingsnummer", sa.String(64), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("content_hash", sa.String(128), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("wait_reason", sa.String(32), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False, default=0),
        sa.Column("waiting_since", sa.DateTime, nullable=False),
        sa.Column("staged_at", sa.DateTime, nullable=False),
        sa.Column("staged_run_id", sa.String(250), nullable=False),
        sa.Column("run_id", sa.String(250), nullable=True),
        sa.Column("batch_id", sa.Integer, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, default=0),
        sa.Column("last_attempt_at", sa.DateTime, nullable=True),
        sa.UniqueConstraint("environment", "system_id", "behandlingsnummer", name="uq_spor_outbox_key"),
        sa.Index("ix_spor_outbox_order", "environment", "batch_id", "priority", "waiting_since",
                 "behandlingsnummer"),
        sa.Index("ix_spor_outbox_batch", "batch_id"),
    )

    sa.Table(
        "spor_batch", meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("environment", sa.String(32), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("planned_at", sa.DateTime, nullable=False),
        sa.Column("claimed_at", sa.DateTime, nullable=True),
        sa.Column("heartbeat_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime, nullable=True),
        sa.Index("ix_spor_batch_run", "run_id"),
    )

    sa.Table(
        "spor_ledger", meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("batch_id", sa.Integer, nullable=True),
        sa.Column("outbox_id", sa.Integer, nullable=True),
        sa.Column("environment", sa.String(32), nullable=False),
        sa.Column("system_id", sa.String(64), nullable=False),
        sa.Column("behandlingsnummer", sa.String(64), nullable=False),
        sa.Column("content_hash", sa.String(128), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("result_code", sa.String(32), nullable=True),
        sa.Column("result_text", sa.Text, nullable=True),
        sa.Column("fault_type", sa.String(200), nullable=True),
        sa.Column("fault_rule", sa.String(200), nullable=True),
        sa.Column("http_status", sa.Integer, nullable=True),
        sa.Column("elapsed_s", sa.Float, nullable=True),
        sa.Column("sent_at", sa.DateTime, nullable=False),
        sa.Column("answered_at", sa.DateTime, nullable=True),
        sa.Index("ix_spor_ledger_run", "run_id", "answered_at"),
        sa.Index("ix_spor_ledger_key", "environment", "behandlingsnummer"),
        sa.Index("ix_spor_ledger_latency", "environment", "answered_at"),
    )

    sa.Table(
        "spor_last_final", meta,
        sa.Column("environment", sa.String(32), primary_key=True),
        sa.Column("system_id", sa.String(64), primary_key=True),
        sa.Column("behandlingsnummer", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("content_hash", sa.String(128), nullable=False),
        sa.Column("answered_at", sa.DateTime, nullable=False),
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("ledger_id", sa.Integer, nullable=True),
    )

    sa.Table(
        "spor_held_back", meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("environment", sa.String(32), nullable=True),
        sa.Column("system_id", sa.String(64), nullable=True),
        sa.Column("behandlingsnummer", sa.String(64), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("rule", sa.String(64), nullable=True),
        sa.Column("variable", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
        sa.Index("ix_spor_held_back_run", "run_id"),
    )

    sa.Table(
        "spor_stage_log", meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("environment", sa.String(32), nullable=False),
        sa.Column("staged", sa.Integer, nullable=False),
        sa.Column("unchanged", sa.Integer, nullable=False),
        sa.Column("already_waiting", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Index("ix_spor_stage_log_run", "run_id"),
    )

    sa.Table(
        "spor_watermark", meta,
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("value", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(250), nullable=True),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )

    sa.Table(
        "spor_run_summary", meta,
        sa.Column("run_id", sa.String(250), primary_key=True),
        sa.Column("summary_json", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )

    sa.Table(
        "spor_extracted", meta,
        sa.Column("run_id", sa.String(250), primary_key=True),
        sa.Column("behandlingsnummer", sa.String(64), primary_key=True),
        sa.Column("payload", sa.Text, nullable=False),
    )
    sa.Table(
        "spor_run_event", meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(250), nullable=False, index=True),
        sa.Column("task", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("data_json", sa.Text),
        sa.Column("at", sa.DateTime, nullable=False),
    )
    sa.Table(
        "spor_report", meta,
        sa.Column("run_id", sa.String(250), primary_key=True),
        sa.Column("kind", sa.String(40), primary_key=True),
        sa.Column("content_type", sa.String(40), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )

    sa.Table(
        "spor_removal_request", meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("cause", sa.String(16), nullable=False),
        sa.Column("source_key", sa.String(64), nullable=False),
        sa.Column("environment", sa.String(32), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("orsak", sa.Text, nullable=True),
        sa.Column("kanal", sa.Text, nullable=True),
        sa.Column("datum", sa.String(32), nullable=True),
        sa.Column("system_ids", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("raised_at", sa.DateTime, nullable=False),
        sa.Column("raised_run_id", sa.String(250), nullable=False),
        sa.Column("sent_at", sa.DateTime, nullable=True),
        sa.Column("sent_to", sa.Text, nullable=True),
        sa.Column("confirmed_at", sa.DateTime, nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.UniqueConstraint("cause", "source_key", "environment", name="uq_spor_removal_request_key"),
        sa.Index("ix_spor_removal_request_run", "raised_run_id"),
        sa.Index("ix_spor_removal_request_status", "status"),
    )
    sa.Table(
        "spor_removal_item", meta,
        sa.Column("request_id", sa.Integer, sa.ForeignKey("spor_removal_request.id"), primary_key=True),
        sa.Column("system_id", sa.String(64), primary_key=True),
        sa.Column("behandlingsnummer", sa.String(64), primary_key=True),
        sa.Column("environment", sa.String(32), nullable=False),
        sa.Column("in_text", sa.Boolean, nullable=False),
        sa.Column("added_at", sa.DateTime, nullable=False),
        sa.Column("added_run_id", sa.String(250), nullable=False),
        sa.Index("ix_spor_removal_item_key", "environment", "behandlingsnummer"),
    )
    return meta


def upgrade() -> None:
    _baseline().create_all(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    _baseline().drop_all(op.get_bind(), checkfirst=True)
