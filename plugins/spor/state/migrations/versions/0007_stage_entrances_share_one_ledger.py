"""Both stage entrances write into one stage (docs/adr/0007-stage-entrances-share-one-ledger.md):
rows kept under ``stage-test-cert`` move to ``stage``.

Where both hold the same registration, the newer wins: SPOR's later answer in ``spor_last_final``,
the later staging in ``spor_outbox``. Removal requests move unless stage already has the same
request (cause and source), which then stands for both; their items move in either case, so what
was covered stays covered. Certificate expiries stay per entrance (each has its own certificate).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

OLD, NEW = "stage-test-cert", "stage"
#: Tables keyed by environment without a uniqueness that could clash.
_PLAIN = ("spor_ledger", "spor_held_back", "spor_stage_log", "spor_batch", "spor_removal_item")


def _table(name: str, *columns: str) -> sa.Table:
    # A Table (not sa.table): the connection's schema_translate_map puts it in the state schema.
    return sa.Table(name, sa.MetaData(), *(sa.Column(c) for c in columns))


def _keep_newer(conn: sa.Connection, name: str, key: tuple[str, ...], newer: str) -> None:
    """Delete whichever of two rows with the same key (one per label) is older by ``newer``."""
    table = _table(name, "environment", newer, *key)
    other = table.alias("other")
    same = sa.and_(*(other.c[k] == table.c[k] for k in key))
    for loser, winner, beats in ((OLD, NEW, other.c[newer] >= table.c[newer]),
                                 (NEW, OLD, other.c[newer] > table.c[newer])):
        conn.execute(table.delete().where(table.c.environment == loser, sa.exists(
            sa.select(sa.literal(1)).select_from(other).where(other.c.environment == winner, same, beats))))


def upgrade() -> None:
    conn = op.get_bind()
    _keep_newer(conn, "spor_last_final", ("system_id", "behandlingsnummer"), "answered_at")
    _keep_newer(conn, "spor_outbox", ("system_id", "behandlingsnummer"), "staged_at")
    for name in ("spor_last_final", "spor_outbox", *_PLAIN):
        table = _table(name, "environment")
        conn.execute(table.update().where(table.c.environment == OLD).values(environment=NEW))
    request = _table("spor_removal_request", "environment", "cause", "source_key")
    other = request.alias("other")
    conn.execute(request.update().where(request.c.environment == OLD, ~sa.exists(
        sa.select(sa.literal(1)).select_from(other).where(
            other.c.environment == NEW, other.c.cause == request.c.cause, other.c.source_key == request.c.source_key)))
        .values(environment=NEW))


def downgrade() -> None:
    """Nothing to undo: which rows came through the test-certificate entrance is not kept."""
