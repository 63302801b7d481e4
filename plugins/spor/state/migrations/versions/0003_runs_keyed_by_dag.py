"""Reports and run summaries keyed by (dag_id, run_id): two DAGs may have runs with the same id.

Rows kept before get ``dag_id = ''`` (their DAG was not recorded); readers fall back to them.
The primary key changes, which neither SQLite nor a plain ALTER does in place: each table is
copied into a new one and renamed.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_COLUMNS: dict[str, Callable[[], list[sa.Column[object]]]] = {
    "spor_report": lambda: [sa.Column("kind", sa.String(40), nullable=False),
                            sa.Column("content_type", sa.String(40), nullable=False),
                            sa.Column("body", sa.Text, nullable=False),
                            sa.Column("created_at", sa.DateTime, nullable=False)],
    "spor_run_summary": lambda: [sa.Column("summary_json", sa.Text, nullable=False),
                                 sa.Column("updated_at", sa.DateTime, nullable=False)],
}
_KEYS = {"spor_report": ("dag_id", "run_id", "kind"), "spor_run_summary": ("dag_id", "run_id")}


def upgrade() -> None:
    # RENAME is plain SQL to Alembic: it needs the schema the connection translates tables into.
    schema = op.get_bind().get_execution_options().get("schema_translate_map", {}).get(None)
    for name, make_columns in _COLUMNS.items():
        new, columns = f"{name}_by_dag", make_columns()
        op.create_table(new, sa.Column("dag_id", sa.String(250), nullable=False),
                        sa.Column("run_id", sa.String(250), nullable=False), *columns,
                        sa.PrimaryKeyConstraint(*_KEYS[name], name=f"pk_{name}"))
        # Core constructs, not SQL text: the connection's schema translation must apply to them.
        names = ["run_id", *[c.name for c in columns]]
        old_t = sa.Table(name, sa.MetaData(), *[sa.Column(n) for n in names])
        new_t = sa.Table(new, sa.MetaData(), sa.Column("dag_id"), *[sa.Column(n) for n in names])
        op.execute(new_t.insert().from_select(
            ["dag_id", *names], sa.select(sa.literal(""), *[old_t.c[n] for n in names])))
        op.drop_table(name)
        op.rename_table(new, name, schema=schema)


def downgrade() -> None:
    raise NotImplementedError("reports of two DAGs may share a run id now: no way back without losing rows")
