"""quality_gate and build_and_stage: held back with the rule, staged what SPOR lacks for this
environment, the watermark with the last chunk; both run with no SPOR connection defined at all
(the environment comes from check_certificate)."""

from __future__ import annotations

import os

import pytest

from spor.extract import handover
from spor.lifecycle import State
from spor.state import held_back, outbox, watermark
from spor.tasks.build_and_stage import build_and_stage
from spor.tasks.extract import extract_changed
from spor.tasks.quality_gate import quality_gate
from spor.tasks.runinfo import MANUAL
from tests.spor.tasks.factory import Night, make_run, settings


@pytest.fixture
def no_spor_connection(monkeypatch):
    for name in [k for k in os.environ if k.startswith("AIRFLOW_CONN_")]:
        monkeypatch.delenv(name)


def test_the_gate_holds_back_with_its_rules_and_reports(db, ops, clock, no_spor_connection):
    night = Night(make_run(), db, ops, clock, settings())
    extracted = night.call(extract_changed)
    counts = night.call(quality_gate, extracted)
    assert counts["checked"] == extracted["handed_over"]
    quarantined = held_back.numbers_in_run(db, night.run.run_id, [State.QUARANTINED.value])
    unknown = held_back.numbers_in_run(db, night.run.run_id, [State.IDENTITY_UNKNOWN.value])
    assert len(quarantined) == counts["quarantined"] and len(unknown) == counts["identity_unknown"]
    assert counts["quarantined"] + counts["identity_unknown"] > 0 and sum(counts["by_rule"].values()) > 0


def test_the_gate_with_nothing_extracted_checks_nothing(db, ops, clock, no_spor_connection):
    night = Night(make_run(), db, ops, clock, settings())
    assert night.call(quality_gate, {"handed_over": 0}) == {"checked": 0, "quarantined": 0, "identity_unknown": 0,
                                                            "warned": 0}


def test_build_stages_every_buildable_and_advances_the_watermark(db, ops, clock, no_spor_connection):
    night = Night(make_run(), db, ops, clock, settings())
    extracted = night.call(extract_changed)
    counts = night.call(build_and_stage, extracted, {})
    buildable = ops.manifest.expected_rendered()
    assert counts["built"] == counts["staged"] == len(buildable) == outbox.size(db, "stage")
    assert counts["not_buildable"] + counts["identity_unknown"] + counts["built"] == extracted["handed_over"]
    assert watermark.read(db, watermark.NIGHTLY) == extracted["watermark"]
    assert handover.count(db, night.run.run_id) == 0  # personal data leaves with the build


def test_build_keys_the_outbox_by_the_given_environment(db, ops, clock, no_spor_connection):
    from spor.registration.units import UnitMapping

    approved = {"date": "2026-01-15", "reference": "UCR 4711"}
    ops.units = UnitMapping({unit: {"system_id": system_id, "approved": {"production": approved}}
                             for unit, system_id in ops.units.as_dict().items()})
    night = Night(make_run(), db, ops, clock, settings(), environment="production")
    night.call(build_and_stage, night.call(extract_changed), {})
    assert outbox.size(db, "production") > 0 and outbox.size(db, "stage") == 0


def test_build_skips_what_the_gate_held_back(db, ops, clock, no_spor_connection):
    night = Night(make_run(), db, ops, clock, settings())
    extracted = night.call(extract_changed)
    gate = night.call(quality_gate, extracted)
    counts = night.call(build_and_stage, extracted, gate)
    assert counts["built"] + counts["not_buildable"] + counts["identity_unknown"] == (
        extracted["handed_over"] - gate["quarantined"] - gate["identity_unknown"])


def test_a_dry_run_builds_and_stages_nothing(db, ops, clock, no_spor_connection):
    night = Night(make_run(mode=MANUAL, params={"dry_run": True}), db, ops, clock, settings())
    extracted = night.call(extract_changed)
    counts = night.call(build_and_stage, extracted, {})
    assert counts["would_send"] == counts["built"] > 0 and counts["staged"] == 0
    assert outbox.size(db) == 0 and watermark.read(db, watermark.NIGHTLY) is None


def test_a_hand_over_that_changed_under_the_build_stops_it(db, ops, clock, no_spor_connection):
    night = Night(make_run(), db, ops, clock, settings())
    extracted = night.call(extract_changed)
    handover.clear(db, night.run.run_id)
    with pytest.raises(RuntimeError, match="no longer holds"):
        night.call(build_and_stage, extracted, {})


def test_a_code_the_code_lists_do_not_know_is_held_back_for_configuration(tmp_path, db, clock, no_spor_connection):
    """Quarantined only by code-list checks (D13 cancellation type outside the list): also kept by
    number for configuration, so a code-list update sends it the next night; quarantined for other
    rules (D15, D18) it is not."""
    from spor.state import held_configuration
    from tests.spor.tasks.factory import make_ops

    ops = make_ops(tmp_path / "ops.sqlite", n=400, seed=3)
    night = Night(make_run(), db, ops, clock, settings())
    extracted = night.call(extract_changed)
    night.call(build_and_stage, extracted, night.call(quality_gate, extracted))
    held = {h.behandlingsnummer: h for h in held_configuration.held_by_run(db, "stage", night.run.run_id)}
    codelist = {b for b, h in held.items() if h.cause == held_configuration.CODE_LIST}
    quarantined = held_back.numbers_in_run(db, night.run.run_id, [State.QUARANTINED.value])
    assert codelist and codelist <= quarantined and quarantined - codelist
    with db.read() as conn:
        import sqlalchemy as sa

        from spor.state.tables import held_back as table

        reasons = {r[0]: r[1] for r in conn.execute(sa.select(table.c.behandlingsnummer, table.c.reason)
                                                    .where(table.c.run_id == night.run.run_id,
                                                           table.c.state == "quarantined"))}
    assert all("D15" not in reasons[b] and "D18" not in reasons[b] for b in codelist)
    assert all(held[b].unit for b in codelist)
