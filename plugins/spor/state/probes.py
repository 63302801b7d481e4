"""SystemIds SPOR does not know yet: one probe a night, the rest the same night once SPOR accepts.

A registration whose last final answer is ``ERROR … SystemId … hittas inte`` (spor.rejections)
was refused for its unit's SystemId, not for its data. While an (environment, SystemId) has such
rejections, the nightly run re-reads them from the OPS by number and rebuilds them; one of them
(the lowest behandlingsnummer) is staged first as the probe, the rest are staged ``AFTER_PROBE``:
never planned into a batch, never counted as waiting. When SPOR answers the probe with anything
but "SystemId … hittas inte", the send task that saw the answer takes the rest into its own batch
and sends them in the same night; when SPOR refuses the probe again, the rest leave the outbox
(payload deleted) and are re-read the next night. Their last final answer is a rejection with the
same content hash, so they are staged with ``force``.

Nothing new is kept between runs: the ledger's last final answers say which registrations wait
for a SystemId.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa

from spor.lifecycle import ACCEPTED, FINAL_ANSWERS, State, WaitReason
from spor.rejections import classify, system_id_unknown
from spor.state import owner as owners
from spor.state import runlog
from spor.state.database import StateDB
from spor.state.documents import JsonObject, JsonView
from spor.state.tables import batch, last_final, ledger, outbox

#: The outbox ``wait_reason`` of a registration staged behind its unit's probe. Not a WaitReason:
#: such a row is never planned and never waits; it is sent after the probe or leaves the outbox.
AFTER_PROBE = "after_probe"
#: The probe goes before everything else of the night.
PROBE_PRIORITY = 100


@dataclass(frozen=True)
class Rejected:
    """A registration whose last final answer in an environment is a SystemId SPOR did not know."""

    system_id: str
    behandlingsnummer: str
    result_text: str | None


def rejected(db: StateDB, environment: str, *, text_contains: str | None = None,
             system_id_only: bool = False, not_by_run: str | None = None) -> list[Rejected]:
    """Registrations of ``environment`` whose last final answer is a rejection (ERROR), optionally
    only those whose text contains ``text_contains`` (case-insensitive), only SystemId ones, or
    only those a run other than ``not_by_run`` got."""
    needle = (text_contains or "").strip().lower()
    other_run = [] if not_by_run is None else [last_final.c.run_id != not_by_run]
    with db.read() as conn:
        rows = conn.execute(
            sa.select(last_final.c.system_id, last_final.c.behandlingsnummer, ledger.c.result_text)
            .select_from(last_final.outerjoin(ledger, ledger.c.id == last_final.c.ledger_id))
            .where(last_final.c.environment == environment, last_final.c.state == State.REJECTED.value, *other_run)
            .order_by(last_final.c.system_id, last_final.c.behandlingsnummer)).all()
    return [Rejected(r.system_id, r.behandlingsnummer, r.result_text) for r in rows
            if (not needle or needle in (r.result_text or "").lower())
            and (not system_id_only or system_id_unknown(r.result_text))]


def unknown_system_ids(db: StateDB, environment: str) -> dict[str, list[str]]:
    """SystemId -> the behandlingsnummer SPOR refused for it (last final answer), sorted."""
    out: dict[str, list[str]] = {}
    for r in rejected(db, environment, system_id_only=True):
        out.setdefault(r.system_id, []).append(r.behandlingsnummer)
    return out


def refused_before(db: StateDB, environment: str, run_id: str) -> frozenset[str]:
    """The SystemIds SPOR refused as unknown in an earlier run: tonight they are probed, so their
    refusals are not news (the systemic rule, spor.send.batch, leaves them out)."""
    return frozenset(r.system_id for r in rejected(db, environment, system_id_only=True, not_by_run=run_id))


@dataclass(frozen=True)
class ProbePlan:
    """Per SystemId: the probe, and the rest that follows it when SPOR accepts."""

    probes: dict[str, str] = field(default_factory=dict)          # system_id -> behandlingsnummer
    after: dict[str, list[str]] = field(default_factory=dict)     # system_id -> behandlingsnummer

    def role(self, system_id: str, behandlingsnummer: str) -> str | None:
        """'probe', 'after', or None (not held behind a probe)."""
        if self.probes.get(system_id) == behandlingsnummer:
            return "probe"
        if system_id in self.probes:
            return "after"
        return None


def plan(unknown: Mapping[str, Iterable[str]], built: Iterable[tuple[str, str]]) -> ProbePlan:
    """The night's probes. ``unknown``: SystemId -> numbers SPOR refused for it; ``built``:
    (system_id, behandlingsnummer) rebuilt tonight. Every built registration of such a SystemId
    waits behind one probe (a refused one first, lowest number: the same one night after night
    while the OPS does not change); a SystemId with nothing built tonight gets no probe."""
    refused = {sid: set(numbers) for sid, numbers in unknown.items()}
    mine: dict[str, list[str]] = {}
    for sid, bnr in built:
        if sid in refused:
            mine.setdefault(sid, []).append(bnr)
    probes: dict[str, str] = {}
    after: dict[str, list[str]] = {}
    for sid, numbers in sorted(mine.items()):
        ordered = sorted(set(numbers), key=lambda b: (b not in refused[sid], b))
        probes[sid] = ordered[0]
        if ordered[1:]:
            after[sid] = sorted(ordered[1:])
    return ProbePlan(probes, after)


@dataclass(frozen=True)
class ProbeOutcome:
    environment: str
    system_id: str
    known: bool        # SPOR answered the probe with anything but "SystemId … hittas inte"
    followers: int     # sent after it (known) or left for the next night (not known)

    def in_words(self) -> str:
        if self.known:
            return (f"SystemId {self.system_id}: SPOR accepted the probe; {self.followers} registration(s) "
                    "behind it are sent now")
        return (f"SystemId {self.system_id}: SPOR still does not know it (the probe was refused); "
                f"{self.followers} registration(s) behind it wait for the next night's probe")


def _probe_answers(conn: sa.Connection, run_id: str, environment: str, system_id: str) -> list[tuple[str, str | None]]:
    return [(r.outcome, r.result_text) for r in conn.execute(
        sa.select(ledger.c.outcome, ledger.c.result_text).where(
            ledger.c.run_id == run_id, ledger.c.environment == environment, ledger.c.system_id == system_id,
            ledger.c.outcome.in_([s.value for s in FINAL_ANSWERS])))]


def knows(answers: Iterable[tuple[str, str | None]]) -> bool | None:
    """Whether SPOR knows the SystemId, from this run's final answers for it: True when one was
    accepted or refused for its data, False when refused for the SystemId, None when no answer
    says (none yet, or only schema faults, which SPOR gives before it looks at the SystemId)."""
    verdict: bool | None = None
    for outcome, text in answers:
        if outcome in {s.value for s in ACCEPTED}:
            return True
        if outcome == State.REJECTED.value:
            if not classify(text).configuration:
                return True
            verdict = False
    return verdict


def follow_up(db: StateDB, run_id: str, environment: str, into: int, *, task: str = "send_batch"
              ) -> tuple[int, list[ProbeOutcome]]:
    """After a batch sent: for each SystemId with registrations behind a probe whose answer this
    run has, either move them into batch ``into`` (reopened, owned by this process) to be sent
    now, or take them out of the outbox for the next night. Each outcome is a run event (the
    summary reads it). Returns (rows moved, outcomes)."""
    outcomes: list[ProbeOutcome] = []
    moved = 0
    with db.write() as conn:
        waiting = [r[0] for r in conn.execute(
            sa.select(outbox.c.system_id).where(outbox.c.environment == environment, outbox.c.wait_reason == AFTER_PROBE,
                                                outbox.c.batch_id.is_(None)).distinct())]
        for sid in waiting:
            verdict = knows(_probe_answers(conn, run_id, environment, sid))
            if verdict is None:
                continue
            where = (outbox.c.environment == environment, outbox.c.system_id == sid,
                     outbox.c.wait_reason == AFTER_PROBE, outbox.c.batch_id.is_(None))
            if verdict:
                n = conn.execute(outbox.update().where(*where).values(
                    batch_id=into, run_id=run_id, wait_reason=WaitReason.NEW.value)).rowcount
                moved += n
            else:
                n = conn.execute(outbox.delete().where(*where)).rowcount
            outcomes.append(ProbeOutcome(environment, sid, verdict, n))
        if moved:
            conn.execute(batch.update().where(batch.c.id == into).values(
                size=batch.c.size + moved, finished_at=None, heartbeat_at=db.now(), **owners.current().columns()))
    for o in outcomes:
        runlog.add(db, run_id, task, runlog.INFO, o.in_words(),
                   {"probe": {"environment": o.environment, "system_id": o.system_id, "known": o.known,
                              "followers": o.followers}})
    return moved, outcomes


def drop_unsent(db: StateDB, environment: str) -> int:
    """What still waits behind a probe when the run ends (its probe got no answer): out of the
    outbox, re-read the next night."""
    with db.write() as conn:
        return int(conn.execute(outbox.delete().where(outbox.c.environment == environment,
                                                      outbox.c.wait_reason == AFTER_PROBE,
                                                      outbox.c.batch_id.is_(None))).rowcount)


def numbers(db: StateDB, environment: str) -> list[str]:
    """Every behandlingsnummer refused for its SystemId in ``environment`` (the nightly re-reads them)."""
    return sorted({bnr for found in unknown_system_ids(db, environment).values() for bnr in found})


#: How many treatment numbers per SystemId the summary keeps.
SHOWN_NUMBERS = 20


def summary_section(db: StateDB, environment: str, run_id: str,
                    units_by_system_id: Mapping[str, list[str]] | None = None) -> JsonObject:
    """The summary's section on registrations SPOR refused for a SystemId it did not know: one
    group per SystemId (its units, how many, the action, the first numbers) and tonight's probes."""
    from spor.rejections import action

    tonight = {str(e.data["probe"]["system_id"]): e.data["probe"] for e in runlog.events(db, run_id, runlog.INFO)
               if e.data and isinstance(e.data.get("probe"), dict)}
    refused = unknown_system_ids(db, environment)
    named = units_by_system_id or {}
    return {
        "environment": environment,
        "by_system_id": [{"system_id": sid, "units": list(named.get(sid, [])), "count": len(numbers),
                          "action": action(sid, environment, list(named.get(sid, []))),
                          "probe": tonight.get(sid), "behandlingsnummer": numbers[:SHOWN_NUMBERS]}
                         for sid, numbers in sorted(refused.items())],
        "known_now": [{"system_id": sid, "followers": int(p.get("followers") or 0)}
                      for sid, p in sorted(tonight.items()) if p.get("known")],
    }


def render_section(section: JsonView) -> list[str]:
    """The summary's lines for ``summary_section``."""
    groups, known = section.get("by_system_id") or [], section.get("known_now") or []
    lines = []
    if groups:
        total = sum(int(g["count"]) for g in groups)
        lines.append(f"  refused by SPOR for a SystemId it does not know: {total} (configuration, not data: "
                     "one probe each night, the rest follow when SPOR accepts it)")
        for g in groups:
            units = ",".join(g.get("units") or []) or "?"
            probe = g.get("probe")
            tried = (" — tonight's probe was refused again" if probe and not probe.get("known") else "")
            lines.append(f"    SystemId {g['system_id']} (unit {units}) {g['count']:>6}  {g['action']}{tried} — "
                         f"{' '.join(list(g['behandlingsnummer'])[:5])}{' …' if int(g['count']) > 5 else ''}")
    for k in known:
        lines.append(f"  SPOR knows SystemId {k['system_id']} now: the probe was accepted and "
                     f"{k['followers']} registration(s) behind it were sent")
    return lines
