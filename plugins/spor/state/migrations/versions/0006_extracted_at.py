"""Hand-over rows carry the time extraction wrote them, so a later run can remove the rows a
crashed run left behind (personal data at rest, docs/state-machine.md).

Rows already there get NULL and count as stale: they were written before this release.
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _schema() -> str | None:
    # ALTER is plain SQL to Alembic: it needs the schema the connection translates tables into.
    translate: Mapping[str | None, str | None] = op.get_bind().get_execution_options().get("schema_translate_map", {})
    return translate.get(None)


def upgrade() -> None:
    op.add_column("spor_extracted", sa.Column("extracted_at", sa.DateTime, nullable=True), schema=_schema())


def downgrade() -> None:
    op.drop_column("spor_extracted", "extracted_at", schema=_schema())
