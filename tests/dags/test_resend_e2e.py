"""spor_resend end to end (issue 4 point 4): by treatment-number list, by changed-date range and
unit, dry_run, force, and the block list (R11), with dag.test() against the stand-in over mutual
TLS. Daytime clock: resends have only the blackout, no deadline (ADR 0002).

The form's values are passed as the run conf, as the UI's trigger form does.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.dags.nightly_support import ClockScript, environment, held_back, load_dag, outbox, received, scripted_settings, start_night, xcom

DAYTIME = "2026-01-20T10:00:00+01:00"


@pytest.fixture
def night(tmp_path, standin_pki, airflow_db):
    night = start_night(tmp_path, standin_pki, n=90, seed=5, days=3)
    yield night
    night.standin.stop()


def resend(night, **form):
    script = ClockScript(DAYTIME, speed=1)
    dag = script.attach(load_dag("spor_resend"))
    with environment(scripted_settings(night, script)):
        return dag.test(run_conf=form)


def sent_by(night, before: int) -> Counter:
    """behandlingsnummer -> outcome of what the stand-in received after index position ``before``."""
    return Counter({r["behandlingsnummer"]: r["outcome"] for r in received(night)[before:]})


def clean(night) -> list[str]:
    """Treatments the gate and builder accept (no defect, not blocked), sorted."""
    m = night.manifest
    return sorted(b for b in m.expected_rendered() if not m.treatments[b].defects)


def test_resend_by_numbers_sends_exactly_those_unchanged_not_again_force_sends_again(night):
    """spor_resend by behandlingsnummer list: exactly the listed treatments go (R5 whole
    registrations, created); the same list again sends nothing (unchanged, same content hash);
    with force the unchanged content is sent again (SPOR answers updated)."""
    chosen = clean(night)[:5]
    dr = resend(night, behandlingsnummer=chosen)
    assert dr.state == "success", dr.state
    first = sent_by(night, 0)
    assert set(first) == set(chosen) and set(first.values()) == {"created"}

    n = len(received(night))
    dr = resend(night, behandlingsnummer=chosen)
    assert dr.state == "success", dr.state
    assert len(received(night)) == n, "unchanged registrations were sent again without force"
    assert xcom(dr, "build_and_stage")["unchanged"] == len(chosen)

    dr = resend(night, behandlingsnummer=chosen, force=True)
    assert dr.state == "success", dr.state
    again = sent_by(night, n)
    assert set(again) == set(chosen) and set(again.values()) == {"updated"}
    assert outbox(night) == {}


def test_resend_dry_run_sends_nothing_and_reports_what_would_be_sent(night):
    """dry_run: build and validate only; nothing is staged or sent, and the run reports how many
    registrations would be sent (XCom of build_and_stage, task log)."""
    chosen = clean(night)[:7]
    dr = resend(night, behandlingsnummer=chosen, dry_run=True)
    assert dr.state == "success", dr.state
    assert received(night) == []
    assert outbox(night) == {}
    built = xcom(dr, "build_and_stage")
    assert built["would_send"] == len(chosen), built
    assert built["staged"] == 0
    # ... and the summary lists exactly which treatment numbers would be sent
    from spor.state import database as statedb
    from spor.state import run_summary

    saved = run_summary.load(statedb.connect(f"sqlite:///{night.env.state_db}"), "spor_resend", dr.run_id)
    assert saved["dry_run"]["would_send"] == sorted(chosen)


def test_resend_by_changed_date_range_and_unit_sends_that_units_changes_of_those_days(night):
    """spor_resend by changed-date range (local days, inclusive) and one unit: exactly the unit's
    treatments last changed on those days, nothing of other units or other days."""
    m = night.manifest
    unit = Counter(e.enhet for e in m.treatments.values()).most_common(1)[0][0]
    dr = resend(night, changed_from="2025-11-02", changed_to="2025-11-03", unit=unit)
    assert dr.state == "success", dr.state
    expected = {b for b in m.expected_rendered()
                if m.treatments[b].enhet == unit and m.treatments[b].andrad_tid[:10] in ("2025-11-02", "2025-11-03")}
    held = {b for b, s in held_back(night, dr.run_id).items() if s != "warned"}
    sent = set(sent_by(night, 0))
    assert sent == expected - held
    assert sent, "the chosen unit and days selected nothing: the test proves nothing"
    other = {b for b, e in m.treatments.items() if e.enhet != unit or e.andrad_tid[:10] == "2025-11-01"}
    assert sent.isdisjoint(other)


def test_r11_resend_never_sends_a_blocked_treatment_even_with_force(night):
    """R11: a resend that names blocked treatments (spärrlista, patient or treatment, and 'does not
    take part'), even with force, sends only the unblocked ones."""
    m = night.manifest
    blocked = sorted(m.blocked())
    assert blocked, "the synthetic OPS has no blocked treatment"
    allowed = clean(night)[:3]
    dr = resend(night, behandlingsnummer=blocked + allowed, force=True)
    assert dr.state == "success", dr.state
    sent = set(sent_by(night, 0))
    assert sent.isdisjoint(blocked), "a blocked treatment reached SPOR (R11)"
    assert sent == set(allowed)
    assert xcom(dr, "extract")["blocked"] == len(blocked)
