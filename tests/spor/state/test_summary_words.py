"""The run summary says what it means: the cause first, what waits with what to do, capacity in
words, and "would be sent" in a dry run."""

from __future__ import annotations

from spor.state import summary
from spor.ui.summary_page import summary_page

BASE = {"dag_id": "spor_resend", "run_id": "manual__r", "mode": "manual", "by_state": {}, "attention": []}


def test_the_first_line_is_the_cause_and_needs_the_team_lists_what_waits_with_the_action():
    failed = BASE | {"cause": "SPOR could not be reached: nothing accepted the connection at https://127.0.0.1:9",
                     "night_not_done": {"waiting": 2, "by_reason": {"transient": 2}},
                     "waiting": {"environment": "stage", "total": 2, "by_reason": {"transient": 2},
                                 "first": {"transient": ["3000105", "3000377"]}}}
    lines = summary.render_text(failed).splitlines()
    assert lines[0] == ("Why the run is not done: SPOR could not be reached: nothing accepted the connection at "
                        "https://127.0.0.1:9")
    assert "  waiting in the outbox now: 2 (2 transient)" in lines
    team = lines.index(next(line for line in lines if line.startswith("  needs the team: 2 waiting")))
    assert "transient" in lines[team + 1] and "3000105 3000377" in lines[team + 1] and "SPOR did not answer" in lines[team + 1]
    page = summary_page(failed)
    assert "Why the run is not done" in page and "SPOR could not be reached" in page
    assert "Nothing: no registration needs the team" not in page and "3000105" in page


def test_a_good_run_has_no_cause_line_and_nothing_for_the_team():
    good = BASE | {"waiting": {"environment": "stage", "total": 0, "by_reason": {}}}
    assert summary.render_text(good).startswith("SPOR run summary")
    assert "Nothing: no registration needs the team" in summary_page(good)


def test_capacity_in_words_not_internal_keys():
    cap = {"outbox_size": 2757, "needed_s": 361.0, "available_s": 14353.5, "fits": True, "sendable": 2757,
           "closes_at": "2025-12-02T04:59:59+01:00", "latency_source": "default", "throughput_per_s": 7.6}
    assert summary.capacity_in_words(cap) == "fits: 2,757 registrations need about 6 minutes; 4 hours left before 05:00"
    page = summary_page(BASE | {"capacity": cap})
    assert "available_s" not in page and "latency_source" not in page and "fits: 2,757 registrations" in page


def test_a_dry_run_says_would_be_sent_never_sent():
    dry = BASE | {"warned": 17, "dry_run": {"would_send": ["3000105"], "unchanged": []}}
    text = summary.render_text(dry)
    assert "would be sent with a predicted error-list entry (warned): 17" in text
    assert " sent with" not in text.replace("would be sent with", "")
    assert "would be sent with a predicted entry" in summary_page(dry)


def test_r11_opt_out_counts_in_words_not_a_dict():
    """R11: what the opt-out filter blocked, per reason, in words (it was a Python dict)."""
    run = BASE | {"opt_out": {"blocked": 72, "blocked_by_reason": {"deltar-ej": 24, "sparrlista-patient": 30,
                                                                    "sparrlista-treatment": 18}}}
    line = next(x for x in summary.render_text(run).splitlines() if "opt-out" in x)
    assert line == ("  blocked by opt-out before any check (R11): 72 "
                    "(24 deltar-ej, 30 sparrlista-patient, 18 sparrlista-treatment)")
    assert "{" not in summary.render_text(BASE | {"opt_out": {"blocked": 0}})
