"""The build-and-stage task: one XSD-valid registration per treatment that passed the gate, and
into the outbox only what SPOR does not already hold for this environment."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from spor.state import attempts, held_back, held_configuration, outbox, probes, runlog, summary, watermark
from spor.tasks import ids
from spor.tasks.context import recorded
from spor.tasks.extract import rejected_selection
from spor.tasks.runinfo import RESEND, RunInfo
from spor.verdicts import HeldBackItem

if TYPE_CHECKING:
    from spor.registration.units import UnitMapping
    from spor.state.database import StateDB

log = logging.getLogger("spor")

#: Registrations staged per transaction; the watermark advances with the last one.
CHUNK = 1000


@dataclass(frozen=True)
class _Built:
    """What the outbox needs of a registration (the lxml tree is dropped to bound memory)."""

    behandlingsnummer: str
    system_id: str
    xml_bytes: bytes
    content_hash: str


@recorded(ids.BUILD_AND_STAGE)
def build_and_stage(extracted: dict[str, Any], gate: dict[str, Any], *, run: RunInfo, db: StateDB,
                    environment: str, units: UnitMapping) -> dict[str, int]:
    """Builds one complete registration per treatment that passed the gate (R5–R10, R12–R15,
    R20), validates it against the XSD, and stages in the outbox only what differs from SPOR's
    last final answer for this environment. A treatment that cannot be built is held back with
    its behandlingsnummer, variable and rule; the others go on. The nightly watermark advances in
    the same transaction as the last staged chunk. `dry_run` builds and validates only.
    Against production only units UCR approved are built (`spor_units`); the others are held back
    as not approved, `force` or not. What is held back for configuration (no SystemId, not
    approved) is recorded by number and re-read every night; what is built is released.
    A unit whose SystemId SPOR refused ("SystemId … hittas inte") gets one probe staged first; the
    rest of its registrations wait behind it and are sent the same night once SPOR accepts it
    (spor.state.probes). A resend by SPOR's last answer (`rejected`) stages the selected ones even
    though their content equals what SPOR refused."""
    from spor.extract import handover
    from spor.lifecycle import State
    from spor.registration.approval import NOT_APPROVED_REASON, approvals
    from spor.registration.verdict import build_verdict

    expected = extracted.get("handed_over")
    if expected is not None and handover.count(db, run.run_id) != expected:
        # Rows gone between extract and build (cleared as stale by another run): staging the rest
        # would end green with treatments silently left out.
        raise RuntimeError(f"the hand-over of run {run.run_id} no longer holds the {expected} "
                           "treatments extract wrote; run it again")
    skip = held_back.numbers_in_run(db, run.run_id, [State.QUARANTINED.value, State.IDENTITY_UNKNOWN.value])
    held: list[HeldBackItem] = []
    chunk: list[_Built] = []
    would_send: list[str] = []
    unchanged: list[str] = []
    counts = {"built": 0, "staged": 0, "unchanged": 0, "already_waiting": 0, "not_buildable": 0,
              "identity_unknown": 0, "would_send": 0, "not_approved": 0}
    approval = approvals(units, environment, db)
    for warning in approval.warnings(units):
        log.warning("%s", warning)
        runlog.add(db, run.run_id, ids.BUILD_AND_STAGE, runlog.INFO, warning, {"approved_by_ledger": True})
    # SystemIds SPOR refused: their registrations wait behind one probe (not in a resend: the form chose)
    unknown = probes.unknown_system_ids(db, environment) if run.mode != RESEND and not run.dry_run else {}
    refused = {(sid, bnr) for sid, numbers in unknown.items() for bnr in numbers}
    behind: list[_Built] = []
    selected = rejected_selection(run, db, environment)
    chosen = {(sid, bnr) for bnr, sids in (selected or {}).items() for sid in sids}
    config_holds: list[held_configuration.Held] = []
    released: list[str] = []  # built, or held back for its data: no longer waits for configuration

    def release(final: bool) -> None:
        if not run.dry_run and (final or len(released) >= CHUNK):
            held_configuration.release(db, environment, released)
            released.clear()

    def put(items: list[_Built], *, force: bool, priority: int = 0, wait_reason: str | None = None) -> None:
        if items:
            result = outbox.stage(db, run.run_id, environment, items, force=force, priority=priority,
                                  wait_reason=wait_reason)
            counts["staged"] += result.staged
            counts["unchanged"] += result.unchanged
            counts["already_waiting"] += result.already_waiting

    def stage_probes() -> None:
        """Each refused SystemId's probe first; the rest behind it. Refused content is staged
        although SPOR's last final answer has the same hash: the refusal was the SystemId's."""
        plan = probes.plan(unknown, [(b.system_id, b.behandlingsnummer) for b in behind])
        for role, priority, reason in (("probe", probes.PROBE_PRIORITY, None), ("after", run.priority, probes.AFTER_PROBE)):
            mine = [b for b in behind if plan.role(b.system_id, b.behandlingsnummer) == role]
            put([b for b in mine if (b.system_id, b.behandlingsnummer) in refused], force=True, priority=priority,
                wait_reason=reason)
            put([b for b in mine if (b.system_id, b.behandlingsnummer) not in refused], force=run.force,
                priority=priority, wait_reason=reason)
        for sid, bnr in sorted(plan.probes.items()):
            waiting = len(plan.after.get(sid, []))
            log.info("SystemId %s: SPOR did not know it; %s goes first as the probe, %d wait behind it", sid, bnr, waiting)
        counts["probes"] = len(plan.probes)
        counts["behind_probe"] = sum(len(v) for v in plan.after.values())
        behind.clear()

    def flush(final: bool) -> None:
        if run.dry_run:
            for b in chunk:
                last = attempts.last_final_answer(db, environment, b.system_id, b.behandlingsnummer)
                if run.force or (b.system_id, b.behandlingsnummer) in chosen or last is None or last[1] != b.content_hash:
                    counts["would_send"] += 1
                    would_send.append(b.behandlingsnummer)
                else:
                    counts["unchanged"] += 1
                    unchanged.append(b.behandlingsnummer)
        else:
            if chosen:  # selected by SPOR's last answer: sent again whatever it holds
                put([b for b in chunk if (b.system_id, b.behandlingsnummer) in chosen], force=True, priority=run.priority)
                chunk[:] = [b for b in chunk if (b.system_id, b.behandlingsnummer) not in chosen]
            if final:
                stage_probes()
            mark = (watermark.NIGHTLY, extracted["watermark"]) if final and extracted.get("watermark") else None
            result = outbox.stage(db, run.run_id, environment, chunk, force=run.force, watermark=mark,
                                  priority=run.priority)
            counts["staged"] += result.staged
            counts["unchanged"] += result.unchanged
            counts["already_waiting"] += result.already_waiting
        chunk.clear()

    # quarantined for their data: no longer wait for configuration (the gate holds code-list ones)
    released.extend(skip - held_configuration.numbers_held_by_run(db, environment, run.run_id))
    for t in handover.iterate(db, run.run_id, exclude=skip):
        enhet = t.row.get("enhet")
        unit = None if enhet is None else str(enhet).strip()
        system_id = units.system_id(enhet)
        if system_id is not None and not approval.allows(unit):
            counts["not_approved"] += 1
            held.append(HeldBackItem(str(t.behandlingsnummer), State.NOT_APPROVED, rule=held_configuration.NOT_APPROVED,
                                     reason=NOT_APPROVED_REASON.format(environment=environment),
                                     environment=environment, system_id=system_id))
            config_holds.append(held_configuration.Held(str(t.behandlingsnummer), held_configuration.NOT_APPROVED,
                                                        unit, system_id))
            continue
        reg = build_verdict(t, units, environment=environment)
        if isinstance(reg, HeldBackItem):
            counts["identity_unknown" if reg.state == State.IDENTITY_UNKNOWN else "not_buildable"] += 1
            held.append(reg)
            if reg.rule == held_configuration.UNIT_MAPPING:
                config_holds.append(held_configuration.Held(reg.behandlingsnummer, held_configuration.UNIT_MAPPING,
                                                            unit, None))
            else:
                released.append(reg.behandlingsnummer)
                release(final=False)
            continue
        released.append(reg.behandlingsnummer)
        release(final=False)
        counts["built"] += 1
        built = _Built(reg.behandlingsnummer, reg.system_id, reg.xml_bytes, reg.content_hash)
        if reg.system_id in unknown:
            behind.append(built)
            continue
        chunk.append(built)
        if len(chunk) >= CHUNK:
            flush(final=False)
    flush(final=True)
    held_back.record(db, run.run_id, held)
    release(final=True)
    if not run.dry_run:
        held_configuration.hold(db, environment, run.run_id, config_holds)
        held_configuration.forget_unseen(db, environment, run.run_id)
    handover.clear(db, run.run_id)
    if run.dry_run:
        summary.save_dry_run(db, run.dag_id, run.run_id, would_send, unchanged)
        log.info("dry run: %d would be sent, %d unchanged, %d not buildable, %d identity unknown",
                 counts["would_send"], counts["unchanged"], counts["not_buildable"], counts["identity_unknown"])
    else:
        log.info("built %d registrations: %d staged, %d unchanged; held back %d not buildable, %d identity unknown%s",
                 counts["built"], counts["staged"], counts["unchanged"], counts["not_buildable"],
                 counts["identity_unknown"],
                 f", {counts['not_approved']} not approved for {environment}" if approval.required else "")
    return counts
