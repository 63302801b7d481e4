"""Send one planned batch: block list re-read, window checked before every request, bounded retries
that never hold a thread, a circuit breaker, certificate and systemic stops. One client shared by
a small thread pool (the client never retries).

``send_planned_batch`` records every attempt in the ledger *before* the request and the answer right
after it, so a crash in between leaves the registration waiting in the outbox (sent again later).
A transient failure defers the registration (spor.send.deferral) and the thread sends the next
one; the circuit breaker (spor.send.breaker) pauses every thread while SPOR is down; a heartbeat
thread (spor.send.heartbeat) shows the batch's owner alive throughout (docs/adr/0005).
"""

from __future__ import annotations

import re
import threading
import time as _time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from spor import metrics
from spor.clock import Clock
from spor.errors import CertificateError, SystemicError, TransientError
from spor.lifecycle import FINAL_ANSWERS, State, WaitReason
from spor.send.breaker import GIVE_UP, PROBE, WAIT, BreakerPolicy, CircuitBreaker
from spor.send.deferral import Deferrals
from spor.send.heartbeat import Heartbeat
from spor.send.windows import SendingWindow
from spor.state import attempts, batches, outbox, probes
from spor.state import owner as owners
from spor.state.attempts import OUTCOME_CERTIFICATE, OUTCOME_TRANSIENT, AnsweredAttempt, FinalAnswer
from spor.state.batches import StagedRegistration
from spor.state.database import StateDB
from spor.state.documents import JsonObject
from spor.state.run_summary import fault_reason

BlockCheck = Callable[[list[str]], "set[str]"]
Sleeper = Callable[[float], None]

#: SPOR's text for an unknown SystemId (R17): "... Systemet SE13-137 som angivits i SystemId hittas inte".
UNKNOWN_SYSTEM_ID = re.compile(r"SystemId\s+hittas\s+inte", re.IGNORECASE)


class Client(Protocol):
    def post(self, registration: StagedRegistration) -> FinalAnswer:
        """Send one registration; returns an answer with ``state``, ``result_code``, ... (spor.transport.answers.SporAnswer)."""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff for transient errors, per registration and run.

    ``max_attempts`` counts the first try. After the n-th failure the registration is deferred
    by ``base_delay_s * factor**(n-1)`` capped at ``max_delay_s`` (the thread sends others
    meanwhile). A deferral that would end at or after ``window.closes_at`` is not made: the
    registration is left WAITING(TRANSIENT) for the next run instead.
    """

    # Eight tries span about a minute (0.5 + 1 + … + 32 s): at a 5 % transient rate one registration
    # in 10^10 runs out, where four tries (3.5 s) left about one per 20,000-treatment night waiting.
    max_attempts: int = 8
    # Short: a deferral holds no thread, and the circuit breaker (not the backoff) protects SPOR
    # when it is down. A long first delay would leave each batch idle at its end (docs/performance.md).
    base_delay_s: float = 0.5
    factor: float = 2.0
    max_delay_s: float = 60.0

    def delay(self, failures: int) -> float:
        return min(self.max_delay_s, self.base_delay_s * self.factor ** max(0, failures - 1))


@dataclass(frozen=True)
class SystemicRule:
    """Stop the run when its first ``first_k`` final answers (or all of them, in a run planned
    with fewer registrations) are all ERROR for an unknown SystemId, or all malformed for the
    same type/element."""

    first_k: int = 20

    def verdict(self, answers: list[AnsweredAttempt]) -> str | None:
        if not answers:
            return None
        n = len(answers)
        if all(a.outcome == State.REJECTED.value and UNKNOWN_SYSTEM_ID.search(a.result_text or "")
               for a in answers):
            return (f"Systemic stop: the first {n} answers of this run were all ERROR 'SystemId hittas inte' "
                    f"(e.g. {answers[0].result_text!r}). Configuration mismatch: check the unit-to-SystemId "
                    f"mapping and that the connection points at the right SPOR environment. "
                    f"The remaining registrations wait in the outbox.")
        keys = {(a.fault_type or a.fault_rule or "") for a in answers if a.outcome == State.MALFORMED.value}
        if all(a.outcome == State.MALFORMED.value for a in answers) and len(keys) == 1:
            a = answers[0]
            return (f"Systemic stop: the first {n} answers of this run were all HTTP {a.http_status or 500} "
                    f"schema faults: {fault_reason(a.fault_rule, a.fault_type, a.result_text)}. "
                    f"Schema mismatch: our XSD/WSDL or message builder does not match SPOR's. "
                    f"The remaining registrations wait in the outbox.")
        return None


@dataclass
class BatchResult:
    batch_id: int
    run_id: str
    environment: str
    attempted: int = 0                                   # requests that went out (incl. retries)
    by_state: dict[str, int] = field(default_factory=dict)   # final answers in this call
    waiting_by_reason: dict[str, int] = field(default_factory=dict)
    withdrawn: int = 0
    stopped: str | None = None      # deadline | blackout | certificate | systemic | unavailable | taken_over
    elapsed_s: float = 0.0
    breaker: list[str] = field(default_factory=list)     # circuit breaker transitions, in order
    last_failure: str | None = None  # the last transient failure's text (spor.send.cause words it)

    def as_dict(self) -> JsonObject:
        return dict(self.__dict__)


class _Run:
    """Shared state of one send_planned_batch call across its threads."""

    def __init__(self, breaker: CircuitBreaker) -> None:
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.stop_reason: WaitReason | None = None
        self.stopped: str | None = None
        self.error: BaseException | None = None
        self.systemic_decided = False
        self.probed: frozenset[str] = frozenset()  # refused in an earlier run: probed, not news
        self.answers: Counter[str] = Counter()
        self.leftover: dict[int, WaitReason] = {}
        self.failures: Counter[int] = Counter()
        self.attempted = 0
        self.last_failure: str | None = None
        self.breaker = breaker
        self.queue: Deferrals[StagedRegistration] | None = None

    def halt(self, stopped: str, reason: WaitReason | None = None, error: BaseException | None = None) -> None:
        with self.lock:
            if self.stopped is None:
                self.stopped, self.stop_reason = stopped, reason
            if error is not None and self.error is None:
                self.error = error
        self.stop.set()
        if self.queue is not None:
            self.queue.wake()


def send_planned_batch(batch_id: int, *, db: StateDB, client: Client, clock: Clock, window: SendingWindow,
                       block_check: BlockCheck, threads: int = 4, retry: RetryPolicy = RetryPolicy(),
                       systemic: SystemicRule = SystemicRule(), sleeper: Sleeper | None = None,
                       breaker: BreakerPolicy = BreakerPolicy(), spor_down: bool = False,
                       beat: timedelta = batches.DEFAULT_BEAT) -> BatchResult:
    """Send what batch ``batch_id`` still owns. Returns counts; raises ``CertificateError`` or
    ``SystemicError`` (after recording what was sent) to stop the run; ``block_check`` errors
    (e.g. ``BlockListUnavailable``) propagate before anything is sent. ``spor_down``: an earlier
    batch of this run stopped "unavailable", so this one probes first and gives up if that fails."""
    started = _time.monotonic()
    me = owners.current()
    info = batches.claim(db, batch_id, me)
    result = BatchResult(batch_id=batch_id, run_id=info.run_id, environment=info.environment)
    run = _Run(CircuitBreaker(breaker))

    def now() -> float:
        return clock.now().timestamp()  # the run's clock, in seconds

    if spor_down:
        run.breaker.assume_down(now())

    def paused() -> str | None:  # read by the heartbeat on every beat
        return "circuit breaker open" if run.breaker.state != "closed" else None

    heartbeat = Heartbeat(db, batch_id, me, beat=beat, paused=paused,
                          on_lost=lambda: run.halt("taken_over", None))
    try:
        heartbeat.__enter__()
        regs = batches.owned_rows(db, batch_id)
        run.probed = probes.refused_before(db, info.environment, info.run_id)
        planned = max(1, batches.planned_size(db, info.run_id))
        threshold = min(systemic.first_k, planned)
        verdict = _judge(db, info.run_id, systemic, threshold, run)
        if verdict:
            raise SystemicError(verdict)

        reason = window.reason_blocked(clock.now())
        if reason is not None:
            run.halt(reason.value, reason)
            run.leftover.update({r.outbox_id: reason for r in regs})
            regs = []
        if regs:
            # Re-read the block list just before sending (R11): blocked since staging → withdrawn.
            blocked = set(block_check([r.behandlingsnummer for r in regs]))
            out = [r for r in regs if r.behandlingsnummer in blocked]
            if out:
                result.withdrawn = outbox.withdraw(db, info.run_id, out)
            regs = [r for r in regs if r.behandlingsnummer not in blocked]

        run.queue = queue = Deferrals([(r, r.not_before.timestamp() if r.not_before else None) for r in regs],
                                      now, sleeper)

        def worker() -> None:
            while not run.stop.is_set():
                permit = run.breaker.permit(now())
                if permit.kind == GIVE_UP:
                    run.halt("unavailable", WaitReason.TRANSIENT)
                    return
                if permit.kind == WAIT:
                    if sleeper is None:
                        run.stop.wait(_real_seconds(clock, permit.seconds))
                    else:
                        sleeper(permit.seconds)
                    continue
                reg = queue.take(run.stop)
                if reg is None:
                    if permit.kind == PROBE:   # nothing left to probe with: stay as we are
                        run.breaker.record(False, now(), probe=True)
                    return
                due = None
                try:
                    due = _send_one(reg, db=db, client=client, clock=clock, window=window, retry=retry,
                                    run=run, run_id=info.run_id, batch_id=batch_id, systemic=systemic,
                                    threshold=threshold, probe=permit.kind == PROBE)
                except BaseException as exc:  # noqa: BLE001 - a bug: stop, keep the row waiting, re-raise
                    run.leftover.setdefault(reg.outbox_id, WaitReason.TRANSIENT)
                    run.halt("error", None, exc)
                finally:
                    queue.done(reg, due)

        if regs:
            with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix=f"spor-batch-{batch_id}") as pool:
                for f in [pool.submit(worker) for _ in range(max(1, min(threads, len(regs))))]:
                    f.result()
            # Deferred when the run stopped: transient (its last attempt failed); never attempted:
            # the stop's reason.
            for reg in queue.remaining():
                why = (WaitReason.TRANSIENT if run.failures[reg.outbox_id]
                       else run.stop_reason or WaitReason(reg.wait_reason))
                run.leftover.setdefault(reg.outbox_id, why)
        if (run.error is None and not run.systemic_decided
                and not batches.has_other_open_batches(db, info.run_id, batch_id)):
            # A run with fewer answers than first_k: judge on all of them.
            verdict = _judge(db, info.run_id, systemic, 1, run, use_all=True)
            if verdict:
                run.halt("systemic", None, SystemicError(verdict))
    finally:
        heartbeat.__exit__()
        by_reason: dict[WaitReason, list[int]] = {}
        for oid, why in run.leftover.items():
            by_reason.setdefault(why, []).append(oid)
        for why, ids in by_reason.items():
            outbox.mark_waiting(db, ids, why, batch_id=batch_id)
        if not heartbeat.lost.is_set():
            batches.finish(db, batch_id)
        result.attempted = run.attempted
        result.by_state = dict(run.answers)
        result.waiting_by_reason = {w.value: len(ids) for w, ids in by_reason.items()}
        result.stopped = run.stopped
        result.breaker = list(run.breaker.transitions)
        result.last_failure = run.last_failure
        result.elapsed_s = round(_time.monotonic() - started, 3)
        metrics.registrations(info.environment, result.by_state, outcomes=[s.value for s in FINAL_ANSWERS])
        metrics.transient_failures(info.environment, sum(run.failures.values()))
        metrics.breaker_openings(info.environment, run.breaker.openings)
        deadline = window.deadline_at
        if deadline is not None:  # the night's margin; resend and backfill runs have no deadline
            metrics.deadline_minutes_left(info.environment, (deadline - clock.now()).total_seconds() / 60)
    if run.error is not None:
        raise run.error
    return result


def _real_seconds(clock: Clock, seconds: float) -> float:
    """How long ``seconds`` on the run's clock last in real time (a simulated clock may run faster),
    at most a minute: the breaker is asked again after every wait."""
    now = clock.now()
    real = (clock.real_instant(now + timedelta(seconds=seconds)) - clock.real_instant(now)).total_seconds()
    return min(60.0, max(0.0, real))


def _judge(db: StateDB, run_id: str, rule: SystemicRule, threshold: int, run: _Run,
           use_all: bool = False) -> str | None:
    """Decide once per run whether its first answers are systemic. None while undecided/healthy."""
    if run.systemic_decided:
        return None
    answers = attempts.run_answers(db, run_id, rule.first_k, skip_system_ids=run.probed)
    if not use_all and len(answers) < threshold:
        return None
    if use_all and not answers:
        return None
    with run.lock:
        run.systemic_decided = True
    return rule.verdict(answers if use_all else answers[:threshold])


def _send_one(reg: StagedRegistration, *, db: StateDB, client: Client, clock: Clock, window: SendingWindow,
              retry: RetryPolicy, run: _Run, run_id: str, batch_id: int, systemic: SystemicRule,
              threshold: int, probe: bool) -> float | None:
    """One request for ``reg``. Returns the time (clock seconds) it is due again after a
    transient failure, or None when it is dealt with (answered, left waiting, not ours)."""
    failures = run.failures[reg.outbox_id]
    blocked = window.reason_blocked(clock.now())
    if blocked is not None:
        run.leftover[reg.outbox_id] = WaitReason.TRANSIENT if failures else blocked
        run.halt(blocked.value, blocked)
        return None
    if run.stop.is_set():
        run.leftover[reg.outbox_id] = WaitReason.TRANSIENT if failures else WaitReason(reg.wait_reason)
        return None
    ledger_id = attempts.record_attempt(db, reg, run_id=run_id, batch_id=batch_id)
    if ledger_id is None:  # another batch owns it now (taken over): not ours to send
        return None
    with run.lock:
        run.attempted += 1
    t0 = _time.monotonic()
    try:
        answer = client.post(reg)
    except CertificateError as exc:
        attempts.record_failure(db, ledger_id, reg, outcome=OUTCOME_CERTIFICATE, detail=type(exc).__name__,
                                elapsed_s=_time.monotonic() - t0)
        run.leftover[reg.outbox_id] = WaitReason(reg.wait_reason)
        run.halt("certificate", None, exc)
        return None
    except TransientError as exc:
        now = clock.now()
        run.breaker.record(True, now.timestamp(), probe=probe)
        with run.lock:
            run.failures[reg.outbox_id] += 1
            failures = run.failures[reg.outbox_id]
            run.last_failure = str(exc)
        due = now.timestamp() + retry.delay(failures)
        retry_later = failures < retry.max_attempts and due < window.closes_at(now).timestamp()
        attempts.record_failure(db, ledger_id, reg, outcome=OUTCOME_TRANSIENT,
                                detail=f"{type(exc).__name__}: {exc}", elapsed_s=_time.monotonic() - t0,
                                not_before=now + timedelta(seconds=retry.delay(failures)) if retry_later else None)
        if not retry_later:
            run.leftover[reg.outbox_id] = WaitReason.TRANSIENT
            return None
        return due
    metrics.answer_latency(reg.environment, _time.monotonic() - t0)
    run.breaker.record(False, clock.now().timestamp(), probe=probe)
    recorded = attempts.record_answer(db, ledger_id, reg, answer)
    with run.lock:
        run.answers[recorded.value] += 1
    if not run.systemic_decided:
        verdict = _judge(db, run_id, systemic, threshold, run)
        if verdict:
            run.halt("systemic", None, SystemicError(verdict))
    return None
