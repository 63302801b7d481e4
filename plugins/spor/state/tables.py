"""The state database's tables: outbox, batches, ledger, last final answers, hand-over, reports.

Table definitions only (SQLAlchemy Core). They are created and changed by the migrations in
:mod:`spor.state.migrations`, never by ``create_all``: a new column here needs a new revision there.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware datetimes stored as naive UTC: SQLite has no time zones, PostgreSQL does."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("state database timestamps must be timezone-aware")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


metadata = sa.MetaData()

#: Registrations waiting to be sent: one row per (environment, system_id, behandlingsnummer).
#: A row leaves the outbox when SPOR gives a final answer or it is withdrawn.
outbox = sa.Table(
    "spor_outbox", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("environment", sa.String(32), nullable=False),
    sa.Column("system_id", sa.String(64), nullable=False),
    sa.Column("behandlingsnummer", sa.String(64), nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Column("content_hash", sa.String(128), nullable=False),
    sa.Column("state", sa.String(32), nullable=False),           # always State.WAITING today
    sa.Column("wait_reason", sa.String(32), nullable=False),     # WaitReason
    sa.Column("priority", sa.Integer, nullable=False, default=0),  # higher is sent first
    sa.Column("waiting_since", UtcDateTime, nullable=False),     # first staged; kept on restage
    sa.Column("staged_at", UtcDateTime, nullable=False),         # last (re)staged
    sa.Column("staged_run_id", sa.String(250), nullable=False),
    sa.Column("run_id", sa.String(250), nullable=True),          # last run that touched it
    sa.Column("batch_id", sa.Integer, nullable=True),            # owner while planned
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_attempt_at", UtcDateTime, nullable=True),
    sa.Column("not_before", UtcDateTime, nullable=True),          # deferred after a transient failure
    sa.UniqueConstraint("environment", "system_id", "behandlingsnummer", name="uq_spor_outbox_key"),
    sa.Index("ix_spor_outbox_order", "environment", "batch_id", "priority", "waiting_since",
             "behandlingsnummer"),
    sa.Index("ix_spor_outbox_batch", "batch_id"),
)

#: Batches own their outbox rows from planning until they finish (or their lease runs out).
batch = sa.Table(
    "spor_batch", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("environment", sa.String(32), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),             # 1..n within the run (labels)
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("planned_at", UtcDateTime, nullable=False),
    sa.Column("claimed_at", UtcDateTime, nullable=True),
    sa.Column("heartbeat_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime, nullable=True),
    # Who sends it (docs/adr/0005): a new run proves a dead owner by its process, else by the lease.
    sa.Column("dag_id", sa.String(250), nullable=True),          # the run's DAG (asks Airflow its state)
    sa.Column("owner_host", sa.String(255), nullable=True),
    sa.Column("owner_pid", sa.Integer, nullable=True),
    sa.Column("owner_started", sa.Float, nullable=True),         # process start (pid reuse)
    sa.Column("owner_pidns", sa.String(64), nullable=True),      # pid namespace (containers)
    sa.Column("owner_worker", sa.String(255), nullable=True),    # Celery worker node name, if any
    sa.Column("paused_reason", sa.String(64), nullable=True),    # e.g. circuit breaker open
    sa.Index("ix_spor_batch_run", "run_id"),
)

#: Every attempt. ``outcome`` is NULL while in flight (or when the process died before the answer
#: was recorded); see docs/state-machine.md for the values.
ledger = sa.Table(
    "spor_ledger", metadata,
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
    sa.Column("sent_at", UtcDateTime, nullable=False),
    sa.Column("answered_at", UtcDateTime, nullable=True),
    sa.Index("ix_spor_ledger_run", "run_id", "answered_at"),
    sa.Index("ix_spor_ledger_key", "environment", "behandlingsnummer"),
    sa.Index("ix_spor_ledger_latency", "environment", "answered_at"),
)

#: SPOR's last final answer per key: "unchanged" is decided against this row.
last_final = sa.Table(
    "spor_last_final", metadata,
    sa.Column("environment", sa.String(32), primary_key=True),
    sa.Column("system_id", sa.String(64), primary_key=True),
    sa.Column("behandlingsnummer", sa.String(64), primary_key=True),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("content_hash", sa.String(128), nullable=False),
    sa.Column("answered_at", UtcDateTime, nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("ledger_id", sa.Integer, nullable=True),
)

#: Held back before sending (not buildable, identity unknown, quarantined, withdrawn) and
#: quality-gate warnings, per run, with a rule and a reason the team can act on.
held_back = sa.Table(
    "spor_held_back", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("environment", sa.String(32), nullable=True),
    sa.Column("system_id", sa.String(64), nullable=True),
    sa.Column("behandlingsnummer", sa.String(64), nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("rule", sa.String(64), nullable=True),
    sa.Column("variable", sa.String(64), nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
    sa.Index("ix_spor_held_back_run", "run_id"),
)

#: What each staging call did (the "unchanged" count of a run lives here).
stage_log = sa.Table(
    "spor_stage_log", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("environment", sa.String(32), nullable=False),
    sa.Column("staged", sa.Integer, nullable=False),
    sa.Column("unchanged", sa.Integer, nullable=False),
    sa.Column("already_waiting", sa.Integer, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Index("ix_spor_stage_log_run", "run_id"),
)

#: Last successful extraction upper bound per extraction name.
watermark = sa.Table(
    "spor_watermark", metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("value", sa.String(64), nullable=False),
    sa.Column("run_id", sa.String(250), nullable=True),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

#: The summary of each run, as JSON (ids, counts, behandlingsnummer: never personal data).
run_summary = sa.Table(
    "spor_run_summary", metadata,
    sa.Column("dag_id", sa.String(250), nullable=False),  # '' for runs kept before runs had their DAG
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("summary_json", sa.Text, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.PrimaryKeyConstraint("dag_id", "run_id", name="pk_spor_run_summary"),
)


#: Each environment's SITHS function certificate as last checked (the status page counts its days).
certificate = sa.Table(
    "spor_certificate", metadata,
    sa.Column("environment", sa.String(32), primary_key=True),
    sa.Column("spor_conn_id", sa.String(250), nullable=False),
    sa.Column("not_after", UtcDateTime, nullable=False),
    sa.Column("checked_at", UtcDateTime, nullable=False),
    sa.Column("run_id", sa.String(250), nullable=True),
)




# --- hand-over between the tasks of a run, run events, reports
#: Unblocked treatments extracted by a run, read by its quality gate and build (spor.extract.handover).
extracted = sa.Table(
    "spor_extracted", metadata,
    sa.Column("run_id", sa.String(250), primary_key=True),
    sa.Column("behandlingsnummer", sa.String(64), primary_key=True),
    sa.Column("payload", sa.Text, nullable=False),  # JSON {"row": ..., "children": ...}: personal data
    # When extraction wrote it: the next runs remove a crashed run's rows by this age. NULL for
    # rows written before the column existed, which count as stale (docs/state-machine.md).
    sa.Column("extracted_at", UtcDateTime, nullable=True),
)
#: What happened to a run beyond per-registration states: stops, failures, capacity (spor.state.runlog).
run_event = sa.Table(
    "spor_run_event", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(250), nullable=False, index=True),
    sa.Column("task", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),      # stop | failure | capacity | info | cause
    sa.Column("message", sa.Text, nullable=False),         # never personal data
    sa.Column("data_json", sa.Text),
    sa.Column("at", UtcDateTime, nullable=False),
)
#: HTML/JSON reports of a run (quality gate, stage approval): treatment numbers, never personal data.
report = sa.Table(
    "spor_report", metadata,
    sa.Column("dag_id", sa.String(250), nullable=False),  # '' for reports kept before runs had their DAG
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("content_type", sa.String(40), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.PrimaryKeyConstraint("dag_id", "run_id", "kind", name="pk_spor_report"),
)



# --- removal requests to UCR (R11)
#: One request per (cause, source_key, environment): raised exactly once. cause 'sparrlista' has
#: the block list entry id as source_key; cause 'deleted' (accepted, then deleted in the OPS) has
#: the behandlingsnummer. ``text`` is the e-mail as raised: treatment numbers, never an identity.
removal_request = sa.Table(
    "spor_removal_request", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("cause", sa.String(16), nullable=False),           # sparrlista | deleted
    sa.Column("source_key", sa.String(64), nullable=False),
    sa.Column("environment", sa.String(32), nullable=False),
    sa.Column("scope", sa.String(16), nullable=False),           # treatment | patient
    sa.Column("orsak", sa.Text, nullable=True),                  # masked free text from the OPS
    sa.Column("kanal", sa.Text, nullable=True),
    sa.Column("datum", sa.String(32), nullable=True),
    sa.Column("system_ids", sa.Text, nullable=False),            # comma separated
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),          # raised | sent | confirmed
    sa.Column("raised_at", UtcDateTime, nullable=False),
    sa.Column("raised_run_id", sa.String(250), nullable=False),
    sa.Column("sent_at", UtcDateTime, nullable=True),
    sa.Column("sent_to", sa.Text, nullable=True),
    sa.Column("confirmed_at", UtcDateTime, nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    sa.UniqueConstraint("cause", "source_key", "environment", name="uq_spor_removal_request_key"),
    sa.Index("ix_spor_removal_request_run", "raised_run_id"),
    sa.Index("ix_spor_removal_request_status", "status"),
)
#: The accepted registrations a request covers. ``in_text`` is false for numbers found after the
#: request was raised (a whole-patient request already asks UCR for all of the patient's data).
removal_item = sa.Table(
    "spor_removal_item", metadata,
    sa.Column("request_id", sa.Integer, sa.ForeignKey("spor_removal_request.id"), primary_key=True),
    sa.Column("system_id", sa.String(64), primary_key=True),
    sa.Column("behandlingsnummer", sa.String(64), primary_key=True),
    sa.Column("environment", sa.String(32), nullable=False),
    sa.Column("in_text", sa.Boolean, nullable=False),
    sa.Column("added_at", UtcDateTime, nullable=False),
    sa.Column("added_run_id", sa.String(250), nullable=False),
    sa.Index("ix_spor_removal_item_key", "environment", "behandlingsnummer"),
)
