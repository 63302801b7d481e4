"""The report and status pages as the team reads them: counts that add up, rules grouped with
their first numbers, what a dry run would not send and why, the status across nights; every page
in the shared frame with its tables in scrolling boxes and links back to the run and the status."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import unquote

from spor.lifecycle import State
from spor.state import attempts, batches, certificates, held_back, outbox, run_summary, runlog, summary
from spor.state.status import read
from spor.ui.status_page import status_page
from spor.ui.summary_page import dry_run_page, summary_page
from spor.verdicts import WARNED, HeldBackItem
from tests.spor.state_fixtures import created, regs, send_all, unknown_system

ENV = "stage"


class _Run:
    def __init__(self, run_id: str, dag_id: str = "spor_nightly", mode: str = "scheduled") -> None:
        self.run_id, self.dag_id, self.mode = run_id, dag_id, mode


def _night(db, run_id: str = "scheduled__n1") -> dict:
    """A night: three created (one of them warned by the gate), one rejected, one unchanged, two
    quarantined under D15-shape, 250 quarantined under D18-tid, one waiting."""
    outbox.stage(db, "r0", ENV, regs("1005"))
    send_all(db, "r0", ENV)
    outbox.stage(db, run_id, ENV, regs("1001", "1002", "1003", "1004", "1005"))
    answers = {"1001": created, "1002": created, "1003": created, "1004": unknown_system}
    for bid in batches.plan(db, run_id, ENV, 10, 1):
        for reg in batches.owned_rows(db, bid):
            lid = attempts.record_attempt(db, reg, run_id=run_id, batch_id=bid)
            attempts.record_answer(db, lid, reg, answers[reg.behandlingsnummer](reg.behandlingsnummer))
    outbox.stage(db, run_id, ENV, regs("1006"))
    held = [HeldBackItem("1003", WARNED, rule="D9", reason="predicted fellista", environment=ENV),
            HeldBackItem("2001", State.QUARANTINED, rule="D15-shape", environment=ENV),
            HeldBackItem("2002", State.QUARANTINED, rule="D15-shape", environment=ENV)]
    held += [HeldBackItem(str(3000 + i), State.QUARANTINED, rule="D18-tid", environment=ENV) for i in range(250)]
    held_back.record(db, run_id, held)
    result = summary.compose(db, _Run(run_id))
    run_summary.save(db, "spor_nightly", run_id, result)
    return result


def _no_wide_text(page: str) -> None:
    """Every table sits in a scrolling box; no identity-shaped number on the page."""
    assert page.count("<table") == page.count("<div class='scroll'><table"), "a table outside a scrolling box"
    assert not re.search(r"\b(19|20)\d{6}-?\d{4}\b", page)


def test_summary_counts_add_up_and_warned_is_not_counted_twice(state_db):
    result = _night(state_db)
    by_state = result["by_state"]
    assert "warned" not in by_state and result["warned"] == 1
    assert (by_state["created"], by_state["rejected"], by_state["unchanged"], by_state["quarantined"]) == (3, 1, 1, 252)
    page = summary_page(result, root="/base")
    total = re.search(r"<tr class='total'><td>total</td><td class=n>(\d+)</td>", page)
    assert total and int(total.group(1)) == sum(by_state.values()) == 3 + 1 + 1 + 252 + by_state["waiting"]
    assert "href='/base/dags/spor_nightly/runs/scheduled__n1'" in page and "href='/base/spor/status'" in page
    _no_wide_text(page)


def test_needs_the_team_is_grouped_by_rule_with_first_numbers_and_pages_through_a_rule(state_db):
    result = _night(state_db)
    page = summary_page(result)
    rows = re.findall(r"rule=([^']+)'>[^<]+</a></td><td>([^<]+)</td><td class=n>(\d+)</td><td>([^<]*)</td>", page)
    groups = {unquote(rule): (state, int(n), first) for rule, state, n, first in rows}
    assert groups["D18-tid"][:2] == ("quarantined", 250) and groups["D18-tid"][2].startswith("3000 3001")
    assert groups["D15-shape"][:2] == ("quarantined", 2)
    assert "SPOR ERROR" in groups and groups["SPOR ERROR"][2] == "1004"
    first = summary_page(result, rule="D18-tid", page=1)
    second = summary_page(result, rule="D18-tid", page=2)
    assert first.count("<td>3") >= 200 and "3199" in first and "3200" not in first
    assert "3200" in second and "3249" in second and "page 2 of 2" in second
    text = summary.render_text(result)
    assert len(text.splitlines()) <= 40 and "D18-tid" in text and "--kind summary" in text


def test_task_log_summary_stays_short_on_a_night_with_many_rules_and_notes(state_db):
    result = _night(state_db)
    result["attention"] += [{"behandlingsnummer": str(5000 + i), "state": "quarantined", "rule": f"D{i}",
                             "reason": "", "environment": ENV} for i in range(40)]
    result["notes"] = [f"note {i}" for i in range(20)]
    result["report_url"] = "http://airflow.example/spor/reports/spor_nightly/scheduled__n1/summary"
    text = summary.render_text(result)
    assert len(text.splitlines()) <= 40
    assert "full lists" in text and "(http://airflow.example/spor/reports/spor_nightly/scheduled__n1/summary)" in text


def test_dry_run_report_lists_what_would_be_sent_and_why_not_the_rest(state_db):
    held_back.record(state_db, "manual__d1", [HeldBackItem("2001", State.QUARANTINED, rule="D1")])
    summary.save_dry_run(state_db, "spor_resend", "manual__d1", [], ["1001", "1002"])
    from spor.state.status import held_back_in_run

    page = dry_run_page({"opt_out": {"blocked": 3, "blocked_by_reason": {"patient": 3}}},
                        summary.load_dry_run(state_db, "spor_resend", "manual__d1"),
                        held_back_in_run(state_db, "manual__d1"), dag_id="spor_resend", run_id="manual__d1")
    assert "Nothing differs from SPOR&#x27;s last final answer" in page
    assert re.search(r"unchanged since SPOR&#x27;s last final answer</td><td></td><td class=n>2</td><td>1001 1002", page)
    assert re.search(r"held back: quarantined</td><td>D1</td><td class=n>1</td><td>2001", page)
    assert re.search(r"blocked by opt-out \(R11\), before any check</td><td>patient 3</td><td class=n>3</td>", page)
    _no_wide_text(page)


def test_status_page_shows_nights_outbox_rules_certificates_capacity_from_the_state_database(state_db):
    _night(state_db)
    now = state_db.now()
    certificates.record(state_db, ENV, "spor_default", now + timedelta(days=12, hours=1), "scheduled__n1")
    runlog.add(state_db, "scheduled__n1", "plan_batches", runlog.CAPACITY, "fits",
               {"throughput_per_s": 2.0, "available_s": 3600, "closes_at": "2025-03-03T05:00:00+01:00"})
    status = read(state_db, now=now)
    assert len(status.nights) == 30 and status.nights[-1][1]["created"] == 3
    assert status.nights[-1][1]["quarantined"] == 252 and status.outbox == {(ENV, "new"): 1}
    assert [(g.state, g.rule, g.treatments) for g in status.by_rule][:2] == [("quarantined", "D18-tid", 250),
                                                                             ("quarantined", "D15-shape", 2)]
    page = status_page(status, now=now, warn_days=30)
    assert "<span class='bad'>12</span>" in page, "12 days left, inside the warning period"
    drawn = [k for k, v in status.nights[-1][1].items() if v]
    assert drawn == ["created", "rejected", "quarantined", "waiting"] and page.count("<rect") == len(drawn)
    assert "href='/spor/reports/spor_nightly/scheduled__n1/summary'" in page
    assert "<span class='ok'>fits</span>" in page and "60 min" in page  # one waiting at 2/s, a 60-minute window
    _no_wide_text(page)


def test_status_page_lists_held_back_for_configuration_per_unit_apart_from_waiting(state_db):
    from spor.state import held_configuration as hc

    hc.hold(state_db, "production", "n1", [hc.Held(str(n), hc.NOT_APPROVED, "OP-B", "SE2321000032-2002")
                                           for n in range(1000, 1004)])
    status = read(state_db, now=state_db.now())
    assert status.held_configuration == [("production", "OP-B", "not-approved", 4, 0)]
    assert status.outbox == {}, "held back is not waiting"
    page = status_page(status, now=state_db.now())
    assert "Held back for configuration" in page and "<td>OP-B</td><td>not-approved</td><td class=n>4</td>" in page


def test_status_page_shows_failed_runs_first_every_held_back_state_its_zone_and_real_certificate_days(state_db):
    """A failed resend is listed before the nights that went well; not-buildable and identity-unknown
    treatments stand beside the quarantined ones; the page names its time zone; a certificate's
    days count on the clock given for certificates (the real one, as `spor check-connection`)."""
    from datetime import UTC, datetime

    _night(state_db)
    held_back.record(state_db, "scheduled__n1", [
        HeldBackItem("4001", State.NOT_BUILDABLE, rule="D4-kon", environment=ENV),
        HeldBackItem("4002", State.IDENTITY_UNKNOWN, rule="identity_unknown", environment=ENV)])
    failed = {"by_state": {}, "stops": ["send_batch: SPOR could not be reached"]}
    run_summary.save(state_db, "spor_resend", "manual__resend1", failed)
    now = state_db.now()
    certificates.record(state_db, ENV, "spor_default", datetime(2027, 12, 1, tzinfo=UTC), "scheduled__n1")
    status = read(state_db, now=now)
    assert [r.run_id for r in status.runs] == ["manual__resend1", "scheduled__n1"]
    assert status.runs[0].problem == "send_batch: SPOR could not be reached" and status.runs[1].problem is None
    assert {("not_buildable", "D4-kon"), ("identity_unknown", "identity_unknown")} <= {
        (g.state, g.rule) for g in status.by_rule}
    real = datetime(2026, 12, 1, tzinfo=UTC)
    page = status_page(status, now=now, warn_days=30, certificates_now=real)
    assert page.index("manual__resend1") < page.index("scheduled__n1") and "Runs (1 failed)" in page
    assert "Europe/Stockholm" in page and " UTC" not in page
    assert "<span class='ok'>365</span>" in page  # the real clock's days, not the tasks' (simulated) clock's
    assert "not_buildable" in page and "identity_unknown" in page
    # the last date label ends inside the chart; labels are anchored, none starts past the edge
    labels = re.findall(r"<text x='([\d.]+)' y='\d+' text-anchor='(\w+)'>\d\d/\d\d</text>", page)
    assert labels[-1] == ("719.0", "end") and all(float(x) <= 720 for x, _ in labels)
    _no_wide_text(page)


def test_status_page_lists_registrations_refused_for_an_unknown_system_id_per_system_id_with_the_action(state_db):
    """R17: SPOR's "SystemId … hittas inte" is the unit's configuration: one row per SystemId."""
    outbox.stage(state_db, "n1", "stage", regs("1001", "1002", "1003"))
    send_all(state_db, "n1", "stage", answer=lambda bn: unknown_system(bn, "SE13-137"))
    status = read(state_db, now=state_db.now())
    assert [row[:3] for row in status.refused_system_ids] == [("stage", "SE2321000032-1001", 3)]
    page = status_page(status, now=state_db.now())
    assert "Refused for an unknown SystemId" in page
    assert "<td>SE2321000032-1001</td><td class=n>3</td>" in page and "ask UCR to register SystemId" in page
