"""The extraction tasks: read the run's treatments from the OPS, drop what the opt-out block list
forbids (R11) and hand the rest to the quality gate through the state database.

``extract_changed`` serves spor_nightly (changed since the watermark, or one backfill day);
``extract_selected`` serves spor_resend (the treatments chosen in the form).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from spor.clock import STOCKHOLM
from spor.state import watermark
from spor.tasks import ids
from spor.tasks.context import recorded
from spor.tasks.runinfo import BACKFILL, RunInfo

if TYPE_CHECKING:
    from spor.clock import Clock
    from spor.extract.source import SourceReader, Treatment
    from spor.lineage.report import TaskLineage
    from spor.settings import Settings
    from spor.state.database import StateDB

log = logging.getLogger("spor")

#: The view whose rows the extraction counts (the treatments, before the opt-out filter).
TREATMENTS = "spor_behandling"

#: Lower bound for a first nightly run (no watermark yet): everything the OPS holds.
BEGINNING = "1900-01-01 00:00:00"


def _wall(instant: datetime) -> str:
    return instant.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M:%S")


def _extract(run: RunInfo, db: StateDB, reader: SourceReader, pages: Iterable[list[Treatment]],
             lineage: TaskLineage) -> dict[str, Any]:
    """Opt-out filter FIRST (R11), then hand the allowed treatments to the next task."""
    from spor.extract import handover, optout

    lineage.reads_ops()  # before reading: a failed extraction names what it could not read too
    block_list = optout.read_block_list(reader)  # BlockListUnavailable: nothing is sent
    handover.clear(db, run.run_id)  # a retried task starts clean
    stale = handover.clear_stale(db, run.run_id)  # what a crashed run left (docs/state-machine.md)
    if stale:
        log.warning("removed %d extracted treatments a crashed run left in the state database", stale)
    allowed_n = 0
    blocked: dict[str, int] = {}
    for page in pages:
        allowed, blocked_ids = optout.apply(page, block_list)
        for _bnr, reason in blocked_ids:
            blocked[reason] = blocked.get(reason, 0) + 1
        allowed_n += handover.put(db, run.run_id, allowed)
    total_blocked = sum(blocked.values())
    log.info("extracted %d treatments: %d allowed, %d blocked by opt-out %s",
             allowed_n + total_blocked, allowed_n, total_blocked, blocked)
    lineage.rows_read[TREATMENTS] = allowed_n + total_blocked
    return {"extracted": allowed_n + total_blocked, "allowed": allowed_n, "blocked": total_blocked,
            "blocked_by_reason": blocked, "handed_over": handover.count(db, run.run_id)}


def _and_held_back(pages: Iterable[list[Treatment]], reader: SourceReader,
                   numbers: list[str]) -> Iterator[list[Treatment]]:
    """The changed treatments, then those held back for configuration that did not change (read
    by number with the resend's query), each once."""
    seen: set[str] = set()
    for page in pages:
        seen.update(str(t.behandlingsnummer) for t in page)
        yield page
    rest = [n for n in numbers if n not in seen]
    if rest:
        log.info("re-reading %d treatments held back for configuration", len(rest))
        yield from reader.by_numbers(rest)


@recorded(ids.EXTRACT)
def extract_changed(*, run: RunInfo, db: StateDB, reader: SourceReader, settings: Settings,
                    clock: Clock, lineage: TaskLineage, environment: str) -> dict[str, Any]:
    """Reads the treatments changed since the last successful extraction from the OPS
    (`sql/extract/treatments_changed.sql`, bind parameters, re-reading `overlap_minutes` before the
    watermark). A backfill run reads the treatments last changed on its logical day instead.
    Applies the opt-out block list and the "does not take part" flag first: blocked treatments
    are dropped here and never checked, built, staged or sent (R11). Fails, so that nothing is
    sent, when the block list cannot be read. Every run that is not a backfill also re-reads, by
    number, the treatments held back for configuration (no SystemId, unit not approved) until they
    are sent or `held_configuration_days` have passed."""
    if run.mode == BACKFILL and run.backfill_day is not None:
        day = run.backfill_day
        since, until = f"{day:%Y-%m-%d} 00:00:00", f"{day + timedelta(days=1):%Y-%m-%d} 00:00:00"
        new_watermark = None
    else:
        previous = watermark.read(db, watermark.NIGHTLY)
        until = _wall(clock.now())
        if previous:
            since = (datetime.fromisoformat(previous)
                     - timedelta(minutes=settings.overlap_minutes)).strftime("%Y-%m-%d %H:%M:%S")
        else:
            since = BEGINNING
        new_watermark = until
    log.info("extracting treatments with andrad_tid in [%s, %s) (%s run)", since, until, run.mode)
    pages: Iterable[list[Treatment]] = reader.changed(since, until)
    held = 0
    if run.mode != BACKFILL:
        from spor.state import held_configuration, probes

        numbers = held_configuration.due(db, environment, run.run_id, days=settings.held_configuration_days)
        held = len(numbers)
        refused = probes.numbers(db, environment)
        if refused:
            log.info("re-reading %d registrations SPOR refused for a SystemId it did not know", len(refused))
        pages = _and_held_back(pages, reader, sorted(set(numbers) | set(refused)))
    else:
        refused = []
    result = _extract(run, db, reader, pages, lineage)
    result.update(since=since, until=until, watermark=new_watermark, held_for_configuration=held,
                  refused_for_system_id=len(refused))
    return result


def rejected_selection(run: RunInfo, db: StateDB, environment: str) -> dict[str, set[str]] | None:
    """The resend form's selection by SPOR's last answer (``rejected``, optionally
    ``answer_text_contains``): behandlingsnummer -> the SystemIds whose last final answer in
    ``environment`` is a rejection matching it; None when the form does not select by answer."""
    if not run.params.get("rejected"):
        return None
    from spor.state import probes

    chosen: dict[str, set[str]] = {}
    for r in probes.rejected(db, environment, text_contains=run.params.get("answer_text_contains") or None):
        chosen.setdefault(r.behandlingsnummer, set()).add(r.system_id)
    return chosen


@recorded(ids.EXTRACT)
def extract_selected(*, run: RunInfo, db: StateDB, reader: SourceReader, lineage: TaskLineage,
                     environment: str) -> dict[str, Any]:
    """Reads the treatments chosen in the form: a list of treatment numbers, a changed-date
    range (optionally one unit), or every registration SPOR last rejected in the environment
    (`rejected`, optionally only answers containing `answer_text_contains`). Applies the opt-out
    filter first, exactly as the nightly run."""
    params = run.params
    numbers = [str(n).strip() for n in (params.get("behandlingsnummer") or []) if str(n).strip()]
    by_answer = rejected_selection(run, db, environment)
    if by_answer is not None:
        if numbers:
            from spor.errors import ConfigurationError

            raise ConfigurationError("spor_resend: choose either behandlingsnummer or rejected, not both")
        log.info("resend of the %d registrations SPOR last rejected in %s%s", len(by_answer), environment,
                 " with the chosen text" if params.get("answer_text_contains") else "")
        return _extract(run, db, reader, reader.by_numbers(sorted(by_answer)), lineage) | {
            "watermark": None, "rejected_selected": len(by_answer)}
    if numbers:
        log.info("resend of %d treatment numbers", len(numbers))
        return _extract(run, db, reader, reader.by_numbers(numbers), lineage) | {"watermark": None}
    start, end = params.get("changed_from"), params.get("changed_to")
    if not start or not end:
        from spor.errors import ConfigurationError

        raise ConfigurationError("spor_resend needs behandlingsnummer, rejected, or both changed_from and changed_to")
    first = datetime.fromisoformat(str(start)).date()
    last = datetime.fromisoformat(str(end)).date()
    if last < first:
        from spor.errors import ConfigurationError

        raise ConfigurationError("spor_resend: changed_to is before changed_from")
    since, until = f"{first:%Y-%m-%d} 00:00:00", f"{last + timedelta(days=1):%Y-%m-%d} 00:00:00"
    unit = params.get("unit") or None
    log.info("resend of treatments changed in [%s, %s)%s", since, until, f" for unit {unit}" if unit else "")
    pages: Iterable[list[Treatment]] = reader.changed(since, until)
    if unit:
        pages = ([t for t in page if str(t.row.get("enhet")) == unit] for page in pages)
    return _extract(run, db, reader, pages, lineage) | {"watermark": None}
