"""The bodies of the DAGs' tasks. DAG files only wire these together.

Each function runs inside an Airflow task: it reads the run from the task context, its settings
from the ``spor_config`` Variable and its systems from the ``spor_ops``, ``spor_state`` and
``spor_default`` connections. Tasks hand over through the state database (never local disk);
XCom carries ids and counts only. Heavy libraries are imported here, inside the functions, so
that parsing the DAG files stays fast.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable

from spor.tasks import runinfo as runinfo_mod
from spor.state import runlog
from spor.clock import STOCKHOLM, clock_from_env
from spor.errors import RunStoppingError
from spor.tasks.runinfo import BACKFILL, NIGHTLY, RunInfo

log = logging.getLogger("spor")

#: Name of the nightly extraction's watermark in the state database.
WATERMARK = "spor_nightly.andrad_tid"
#: Lower bound for a first nightly run (no watermark yet): everything the OPS holds.
BEGINNING = "1900-01-01 00:00:00"


# --- plumbing -------------------------------------------------------------------------------
@dataclass
class _Env:
    context: dict
    run: RunInfo
    settings: Any
    clock: Any

    @functools.cached_property
    def db(self):
        from spor.state import database as statedb

        return statedb.from_airflow_conn(self.settings.state_conn_id, clock=self.clock)

    @functools.cached_property
    def reader(self):
        from spor.extract.source import SourceReader

        return SourceReader.from_conn_id(self.settings.ops_conn_id)

    @property
    def spor_conn_id(self) -> str:
        env = self.run.params.get("environment") or "default"
        if env == "default":
            return self.settings.spor_conn_id
        return self.settings.environments[env]

    @functools.cached_property
    def hook(self):
        from spor.hooks.spor import SporHook

        return SporHook(spor_conn_id=self.spor_conn_id)

    @property
    def environment(self) -> str:
        """The SPOR environment the connection says it is (ledger key: stage ≠ production)."""
        return self.hook.get_config().environment

    @property
    def dry_run(self) -> bool:
        return bool(self.run.params.get("dry_run", False))


def _env() -> _Env:
    from airflow.sdk import get_current_context

    from spor import settings

    context = get_current_context()
    return _Env(context=context, run=runinfo_mod.from_context(context), settings=settings.load(), clock=clock_from_env())


def _recorded(task_name: str) -> Callable:
    """Record a failure of the task as a PII-safe run event (the summary reports it), then re-raise."""

    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            env = _env()
            try:
                return fn(env, *args, **kwargs)
            except RunStoppingError as exc:
                _safe_event(env, task_name, runlog.STOP, runlog.describe(exc))
                raise
            except Exception as exc:
                _safe_event(env, task_name, runlog.FAILURE, runlog.describe(exc))
                raise

        # Airflow reads the signature to bind XCom arguments: hide the injected first one.
        del inner.__wrapped__
        sig = inspect.signature(fn)
        inner.__signature__ = sig.replace(parameters=list(sig.parameters.values())[1:])  # type: ignore[attr-defined]
        return inner

    return wrap


def _safe_event(env: _Env, task: str, kind: str, message: str) -> None:
    try:
        runlog.add(env.db, env.run.run_id, task, kind, message)
    except Exception:  # noqa: BLE001 - the state DB itself may be what failed
        log.exception("could not record the %s event of %s in the state database", kind, task)


# --- tasks ----------------------------------------------------------------------------------
@_recorded("check_certificate")
def check_certificate(env: _Env) -> dict:
    """Checks the SITHS function certificate of the SPOR connection before anything is sent:
    fails when it is expired, not yet valid or does not match its key; warns when it expires
    within `certificate_warn_days` (default 30)."""
    status = env.hook.check_certificate(now=env.clock.now(), warn_days=env.settings.certificate_warn_days)
    if status.warning:
        log.warning("%s", status.warning)
        runlog.add(env.db, env.run.run_id, "check_certificate", runlog.INFO, status.warning)
    log.info("SPOR connection: %s", env.hook.get_config().describe())
    return {"expires": status.not_after.isoformat() if getattr(status, "not_after", None) else None,
            "warning": bool(status.warning)}


def _wall(instant: datetime) -> str:
    return instant.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M:%S")


def _extract(env: _Env, pages: Iterable[list]) -> dict:
    """Opt-out filter FIRST (R11), then hand the allowed treatments to the next task."""
    from spor.extract import handover
    from spor.extract import optout

    block_list = optout.read_block_list(env.reader)  # BlockListUnavailable: nothing is sent
    handover.clear(env.db, env.run.run_id)  # a retried task starts clean
    allowed_n = 0
    blocked: dict[str, int] = {}
    for page in pages:
        allowed, blocked_ids = optout.apply(page, block_list)
        for _bnr, reason in blocked_ids:
            blocked[reason] = blocked.get(reason, 0) + 1
        allowed_n += handover.put(env.db, env.run.run_id, allowed)
    total_blocked = sum(blocked.values())
    log.info("extracted %d treatments: %d allowed, %d blocked by opt-out %s",
             allowed_n + total_blocked, allowed_n, total_blocked, blocked)
    return {"extracted": allowed_n + total_blocked, "allowed": allowed_n, "blocked": total_blocked,
            "blocked_by_reason": blocked}


@_recorded("extract")
def extract_changed(env: _Env) -> dict:
    """Reads the treatments changed since the last successful extraction from the OPS
    (`sql/extract/treatments_changed.sql`, bind parameters, re-reading `overlap_minutes` before the
    watermark). A backfill run reads the treatments last changed on its logical day instead.
    Applies the opt-out block list and the "does not take part" flag first: blocked treatments
    are dropped here and never checked, built, staged or sent (R11). Fails, so that nothing is
    sent, when the block list cannot be read."""
    run = env.run
    if run.mode == BACKFILL and run.backfill_day is not None:
        day = run.backfill_day
        since, until = f"{day:%Y-%m-%d} 00:00:00", f"{day + timedelta(days=1):%Y-%m-%d} 00:00:00"
        watermark = None
    else:
        from spor.state import watermark

        previous = watermark.read(env.db, WATERMARK)
        until = _wall(env.clock.now())
        if previous:
            since = (datetime.fromisoformat(previous) - timedelta(minutes=env.settings.overlap_minutes)).strftime("%Y-%m-%d %H:%M:%S")
        else:
            since = BEGINNING
        watermark = until
    log.info("extracting treatments with andrad_tid in [%s, %s) (%s run)", since, until, run.mode)
    result = _extract(env, env.reader.changed(since, until))
    result.update(since=since, until=until, watermark=watermark)
    return result


@_recorded("extract")
def extract_selected(env: _Env) -> dict:
    """Reads the treatments chosen in the form: a list of treatment numbers, or a changed-date
    range (optionally one unit). Applies the opt-out filter first, exactly as the nightly run."""
    params = env.run.params
    numbers = [str(n).strip() for n in (params.get("behandlingsnummer") or []) if str(n).strip()]
    if numbers:
        log.info("resend of %d treatment numbers", len(numbers))
        return _extract(env, env.reader.by_numbers(numbers)) | {"watermark": None}
    start, end = params.get("changed_from"), params.get("changed_to")
    if not start or not end:
        from spor.errors import ConfigurationError

        raise ConfigurationError("spor_resend needs either behandlingsnummer or both changed_from and changed_to")
    first = datetime.fromisoformat(str(start)).date()
    last = datetime.fromisoformat(str(end)).date()
    if last < first:
        from spor.errors import ConfigurationError

        raise ConfigurationError("spor_resend: changed_to is before changed_from")
    since, until = f"{first:%Y-%m-%d} 00:00:00", f"{last + timedelta(days=1):%Y-%m-%d} 00:00:00"
    unit = params.get("unit") or None
    log.info("resend of treatments changed in [%s, %s)%s", since, until, f" for unit {unit}" if unit else "")
    pages = env.reader.changed(since, until)
    if unit:
        pages = ([t for t in page if str(t.row.get("enhet")) == unit] for page in pages)
    return _extract(env, pages) | {"watermark": None}


@_recorded("quality_gate")
def quality_gate(env: _Env, extracted: dict) -> dict:
    """Runs the Great Expectations suites of `expectations/` on the extracted (unblocked)
    treatments. *reject* verdicts quarantine a treatment (not sent); *warn* verdicts are sent and
    listed as predicted entries on SPOR's error list. The HTML report is kept in the state
    database (see the summary for how to open it)."""
    from spor.extract import handover
    from spor.state import held_back
    from spor.state.held_back import WARNED, HeldBackItem
    from spor.quality.frame import frame_from_treatments
    from spor.quality.gate import run_gate
    from spor.quality.report import render_report
    from spor.states import State

    treatments = list(handover.iterate(env.db, env.run.run_id))
    if not treatments:
        return {"checked": 0, "quarantined": 0, "identity_unknown": 0, "warned": 0}
    frame = frame_from_treatments(treatments)
    del treatments
    result = run_gate(frame, run_id=env.run.run_id)
    environment = env.environment
    items = []
    by_id: dict[str, list] = {}
    for v in result.verdicts:
        by_id.setdefault(v.behandlingsnummer, []).append(v)
    for bnr in sorted(result.quarantined):
        rejects = [v for v in by_id[bnr] if v.severity == "reject"]
        state = State.IDENTITY_UNKNOWN if bnr in result.identity_unknown else State.QUARANTINED
        items.append(HeldBackItem(bnr, state, rule=",".join(sorted({v.rule for v in rejects})),
                                  reason="quality gate: " + ", ".join(sorted({v.expectation_id for v in rejects})),
                                  environment=environment))
    for bnr in sorted(result.warned):
        warns = [v for v in by_id[bnr] if v.severity == "warn"]
        items.append(HeldBackItem(bnr, WARNED, rule=",".join(sorted({v.rule for v in warns})),
                                  reason="predicted fellista: " + ", ".join(sorted({v.expectation_id for v in warns})),
                                  environment=environment))
    held_back.record(env.db, env.run.run_id, items)
    runlog.save_report(env.db, env.run.run_id, "quality", render_report(result, env.run.run_id))
    runlog.save_report(env.db, env.run.run_id, "quality-json", result.to_json(), "application/json")
    # Mapping coverage per variable, for the stage-approval evidence (R4) built when the run ends.
    from spor.quality.stage_approval import mapping_coverage

    runlog.save_report(env.db, env.run.run_id, "coverage-json",
                       json.dumps({"registrations": len(frame), "coverage": mapping_coverage(frame)}), "application/json")
    counts = {"checked": len(result.ids), "quarantined": len(result.quarantined - result.identity_unknown),
              "identity_unknown": len(result.identity_unknown), "warned": len(result.warned),
              "by_rule": result.counts_by_rule()}
    log.info("quality gate: %s (GX import %.1fs, validation %.1fs)", counts, result.gx_import_seconds,
             result.validation_seconds)
    return counts


@dataclass(frozen=True)
class _Built:
    """What the outbox needs of a registration (the lxml tree is dropped to bound memory)."""

    behandlingsnummer: str
    system_id: str
    xml_bytes: bytes
    content_hash: str


def _held_back_ids(env: _Env, states: Iterable[str]) -> set[str]:
    import sqlalchemy as sa

    from spor.state.database import held_back

    with env.db.read() as conn:
        return {r[0] for r in conn.execute(sa.select(held_back.c.behandlingsnummer).where(
            held_back.c.run_id == env.run.run_id, held_back.c.state.in_(list(states))))}


@_recorded("build_and_stage")
def build_and_stage(env: _Env, extracted: dict, gate: dict) -> dict:
    """Builds one complete registration per treatment that passed the gate (R5–R10, R12–R15,
    R20), validates it against the XSD, and stages in the outbox only what differs from SPOR's
    last final answer for this environment. A treatment that cannot be built is held back with
    its behandlingsnummer, variable and rule; the others go on. The nightly watermark advances in
    the same transaction as the last staged chunk. `dry_run` builds and validates only."""
    from spor.extract import handover
    from spor.errors import BuildError, IdentityUnknown
    from spor.state import attempts, held_back, outbox
    from spor.state.held_back import HeldBackItem
    from spor.build.registration import build_registration
    from spor.states import State
    from spor.build.units import UnitMapping

    units = UnitMapping.from_airflow()
    environment = env.environment
    skip = _held_back_ids(env, [State.QUARANTINED.value, State.IDENTITY_UNKNOWN.value])
    held: list = []
    chunk: list[_Built] = []
    would_send: list[str] = []
    counts = {"built": 0, "staged": 0, "unchanged": 0, "already_waiting": 0, "not_buildable": 0,
              "identity_unknown": 0, "would_send": 0}

    def flush(final: bool) -> None:
        if env.dry_run:
            for b in chunk:
                last = attempts.last_final_answer(env.db, environment, b.system_id, b.behandlingsnummer)
                if env.run.force or last is None or last[1] != b.content_hash:
                    counts["would_send"] += 1
                    would_send.append(b.behandlingsnummer)
                else:
                    counts["unchanged"] += 1
        else:
            mark = (WATERMARK, extracted["watermark"]) if final and extracted.get("watermark") else None
            result = outbox.stage(env.db, env.run.run_id, environment, chunk, force=env.run.force, watermark=mark)
            counts["staged"] += result.staged
            counts["unchanged"] += result.unchanged
            counts["already_waiting"] += result.already_waiting
        chunk.clear()

    for t in handover.iterate(env.db, env.run.run_id, exclude=skip):
        try:
            reg = build_registration(t.row, t.children, units.system_id(t.row.get("enhet")))
        except IdentityUnknown as exc:
            counts["identity_unknown"] += 1
            held.append(HeldBackItem(t.behandlingsnummer, State.IDENTITY_UNKNOWN, rule=exc.rule,
                                     reason=exc.reason, variable=exc.variable, environment=environment))
            continue
        except BuildError as exc:
            counts["not_buildable"] += 1
            held.append(HeldBackItem(t.behandlingsnummer, State.NOT_BUILDABLE, rule=exc.rule,
                                     reason=exc.reason, variable=exc.variable, environment=environment))
            continue
        counts["built"] += 1
        chunk.append(_Built(reg.behandlingsnummer, reg.system_id, reg.xml_bytes, reg.content_hash))
        if len(chunk) >= 1000:
            flush(final=False)
    flush(final=True)
    held_back.record(env.db, env.run.run_id, held)
    handover.clear(env.db, env.run.run_id)
    if env.dry_run:
        runlog.save_report(env.db, env.run.run_id, "dry-run", json.dumps({"would_send": sorted(would_send)}),
                           "application/json")
        log.info("dry run: %d would be sent, %d unchanged, %d not buildable, %d identity unknown",
                 counts["would_send"], counts["unchanged"], counts["not_buildable"], counts["identity_unknown"])
    else:
        log.info("built %d registrations: %d staged, %d unchanged; held back %d not buildable, %d identity unknown",
                 counts["built"], counts["staged"], counts["unchanged"], counts["not_buildable"], counts["identity_unknown"])
    return counts


def _window(env: _Env, started_at: datetime):
    from spor.send.windows import SendingWindow

    return SendingWindow.for_run(has_deadline=env.run.has_deadline, started_at=started_at, deadline=env.settings.deadline,
                                 margin=timedelta(seconds=env.settings.send_margin_seconds))


@_recorded("plan_batches")
def plan_batches(env: _Env, staged: dict) -> list[dict]:
    """Assigns the waiting registrations of this environment to at most `batches_per_run` batches
    (each batch owns its rows; order: highest priority, then oldest waiting, then behandlingsnummer). Estimates from
    the outbox size, the recent latency and the concurrency whether the window is long enough,
    and says so. Returns one small descriptor per batch (numbers only) for the mapped sends."""
    from spor.send import capacity
    from spor.state import batches, outbox
    from spor.states import WaitReason

    ti = env.context["ti"]
    now = env.clock.now()
    # A scheduled night's deadline is the 05:00 after its scheduled time, even when it starts
    # late; a run started by hand counts from when it plans (ADR 0002).
    window_from = env.run.run_after if env.run.mode == NIGHTLY and env.run.run_after else now
    window = _window(env, window_from)
    opens = window.next_open(now)
    ti.xcom_push(key="window_opens_at", value=env.clock.real_instant(opens if opens else now).isoformat())
    if env.dry_run:
        log.info("dry run: nothing is planned or sent")
        return []
    s = env.settings
    environment = env.environment
    estimate = capacity.estimate_from_db(env.db, environment, pool_slots=s.pool_slots,
                                         threads_per_task=s.threads_per_task, now=opens or now, window=window)
    log.info("capacity: %s", estimate.as_dict())
    runlog.add(env.db, env.run.run_id, "plan_batches", runlog.CAPACITY, estimate.warning or "fits", estimate.as_dict())
    if estimate.warning:
        log.warning("%s", estimate.warning)
    if opens is None:
        reason = window.reason_blocked(now) or WaitReason.DEADLINE
        outbox.mark_unplanned_waiting(env.db, environment, reason)
        log.warning("nothing is sent: the window of this run has closed (%s); everything waits for the next run", reason.value)
        runlog.add(env.db, env.run.run_id, "plan_batches", runlog.INFO,
                   f"nothing sent: the sending window had closed ({reason.value}) when batches were planned")
        return []
    # A fixed number of batches per run (not per N registrations): task instances stay constant.
    batch_size = max(s.min_batch_size, -(-estimate.outbox_size // s.batches_per_run))
    batch_ids = batches.plan(env.db, env.run.run_id, environment, batch_size, s.batches_per_run)
    log.info("planned %d batches of at most %d for %s", len(batch_ids), batch_size, environment)
    return [{"batch": n, "batch_id": bid, "window_from": window_from.isoformat()}
            for n, bid in enumerate(batch_ids, start=1)]


def _block_check(env: _Env) -> Callable[[list[str]], set[str]]:
    """Re-reads the block list and the treatments' current identity and flag just before a batch
    is sent (R11). A treatment no longer in the OPS is not sent either."""
    from spor.extract import optout

    def check(numbers: list[str]) -> set[str]:
        block_list = optout.read_block_list(env.reader)
        present: set[str] = set()
        blocked: set[str] = set()
        for page in env.reader.by_numbers(numbers):
            _allowed, out = optout.apply(page, block_list)
            blocked.update(b for b, _ in out)
            present.update(str(t.behandlingsnummer) for t in page)
        return blocked | (set(numbers) - present)

    return check


@_recorded("send_batch")
def send_batch(env: _Env, batch: dict) -> dict:
    """Sends one batch to SPOR over mutual TLS, in pool `spor`, with `threads_per_task` threads
    sharing one client. Re-reads the block list first and withdraws what became blocked. Before
    every send and every retry it checks the window: never after the deadline (spor_nightly),
    never 05:15–06:00 (every run); what is left waits in the outbox with the reason. A rejected
    certificate or a systemic error stops the whole run."""
    from spor.send import batch as sending

    env.context["batch_label"] = f"batch {batch['batch']}"
    stop = runlog.stopped(env.db, env.run.run_id)
    window = _window(env, datetime.fromisoformat(batch["window_from"]))
    if stop:
        # Another batch stopped the run: send nothing, leave the rows waiting (released by the loop).
        log.error("not sending batch %s: the run was stopped (%s)", batch["batch"], stop)
        return {"batch": batch["batch"], "skipped": "run stopped"}
    client = env.hook.get_client(pool_size=env.settings.threads_per_task)
    result = sending.send_planned_batch(int(batch["batch_id"]), db=env.db, client=client, clock=env.clock,
                                        window=window, block_check=_block_check(env),
                                        threads=env.settings.threads_per_task)
    counts = result.as_dict()
    log.info("batch %s: %s", batch["batch"], counts)
    return {"batch": batch["batch"], **{k: counts[k] for k in ("attempted", "by_state", "waiting_by_reason", "withdrawn", "stopped")}}


def _stage_approval(env: _Env, result: dict) -> bool:
    """Against SPOR stage, every run also keeps the stage-approval evidence (R4): mapping coverage
    per variable, the quality results and SPOR's answers, as one page the unit sends to SPOR."""
    try:
        if env.environment == "production":
            return False
    except Exception:  # noqa: BLE001 - no usable SPOR connection: nothing was sent, no evidence
        return False
    coverage = runlog.load_report(env.db, env.run.run_id, "coverage-json")
    gate = runlog.load_report(env.db, env.run.run_id, "quality-json")
    if coverage is None or gate is None:
        return False
    from spor.quality.gate import GateResult
    from spor.quality.stage_approval import stage_approval_report

    cov = json.loads(coverage[1])
    answers = {k: v for k, v in result["by_state"].items() if v}
    page = stage_approval_report(None, GateResult.from_json(gate[1]), answers, run_id=env.run.run_id,
                                 coverage=cov["coverage"], registrations=cov["registrations"])
    runlog.save_report(env.db, env.run.run_id, "stage-approval", page)
    return True


@_recorded("summarize")
def summarize(env: _Env) -> dict:
    """Counts per state of the registration state machine, the treatment numbers that need the
    team with their reason, what waits and why, the capacity warning and any stop. Printed here
    and kept in the state database. Fails the run when a task failed or the run was stopped."""
    from spor.state import run_summary, summary

    extracted = env.context["ti"].xcom_pull(task_ids="extract") or {}
    from spor.removal import requests as removal

    extra = {"opt_out": {k: extracted[k] for k in ("blocked", "blocked_by_reason") if k in extracted},
             "removal_requests": removal.raised_in_run(env.db, env.run.run_id)}
    dry = runlog.load_report(env.db, env.run.run_id, "dry-run")
    if dry is not None:
        extra["dry_run"] = json.loads(dry[1])
    result = summary.build(env.db, env.run, extra)
    if _stage_approval(env, result):
        result["reports"].append("stage-approval")
    run_summary.save(env.db, env.run.run_id, result)
    for line in summary.render_text(result).splitlines():
        log.info("%s", line)
    print(summary.render_text(result))
    problems = result.get("stops", []) + result.get("failures", [])
    if problems:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException("; ".join(problems))
    return {k: v for k, v in result["by_state"].items() if v}


@_recorded("removal_requests")
def raise_removal_requests(env: _Env) -> dict:
    """Raises removal requests to UCR (R11) for data SPOR already accepted: one per block list
    entry and environment that covers an accepted treatment, and one per accepted treatment since
    deleted in the OPS (sent by mistake); each exactly once. E-mails every raised request when the
    Variable `spor_removal_notifier` names an SMTP connection; otherwise they wait for the team
    (`python -m spor removal list`). Fails, raising nothing, when the block list cannot be read."""
    from spor.removal import requests as removal

    if env.dry_run:
        log.info("dry run: no removal request is raised")
        return {"skipped": "dry run"}
    counts = removal.nightly_step(env.db, env.reader, run_id=env.run.run_id, clock=env.clock,
                                  notifier=removal.notifier_from_airflow())
    log.info("removal requests: %s", counts)
    return counts
