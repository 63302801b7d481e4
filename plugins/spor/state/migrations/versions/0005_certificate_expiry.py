"""Each environment's certificate expiry, as the check_certificate task last read it (status page)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "spor_certificate",
        sa.Column("environment", sa.String(32), primary_key=True),
        sa.Column("spor_conn_id", sa.String(250), nullable=False),
        sa.Column("not_after", sa.DateTime, nullable=False),
        sa.Column("checked_at", sa.DateTime, nullable=False),
        sa.Column("run_id", sa.String(250), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("spor_certificate")
