"""Drop ``spor_schema_version``, the version table used before Alembic (this chain replaces it)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    legacy = sa.Table("spor_schema_version", sa.MetaData(),
                      sa.Column("version", sa.Integer, primary_key=True),
                      sa.Column("applied_at", sa.DateTime, nullable=False))
    legacy.drop(bind, checkfirst=True)


def downgrade() -> None:
    pass  # nothing reads it any more
