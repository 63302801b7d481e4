"""Treatments held back for a configuration cause, by behandlingsnummer, re-read every night
until sent or given up (no payload, no personal data)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "spor_held_configuration",
        sa.Column("environment", sa.String(32), primary_key=True),
        sa.Column("behandlingsnummer", sa.String(64), primary_key=True),
        sa.Column("cause", sa.String(64), nullable=False),
        sa.Column("unit", sa.String(64), nullable=True),
        sa.Column("system_id", sa.String(64), nullable=True),
        sa.Column("first_held_at", sa.DateTime, nullable=False),
        sa.Column("last_held_at", sa.DateTime, nullable=False),
        sa.Column("last_run_id", sa.String(250), nullable=False),
        sa.Column("reread_run_id", sa.String(250), nullable=True),
        sa.Column("given_up_at", sa.DateTime, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("spor_held_configuration")
