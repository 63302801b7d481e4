"""A run's counts per state, and its summary kept in the state database."""

from __future__ import annotations

from spor.state import attempts, batches, outbox, run_summary, summary
from tests.spor.state_fixtures import created, malformed, regs, send_all, unknown_system

ENV = "stage"


def test_summary_counts_every_state_once_per_registration(state_db):
    outbox.stage(state_db, "r0", ENV, regs("1005"))
    send_all(state_db, "r0", ENV)
    outbox.stage(state_db, "r1", ENV, regs("1001", "1002", "1003", "1005"))
    answers = {"1001": created, "1002": unknown_system, "1003": lambda bn: malformed()}
    for bid in batches.plan(state_db, "r1", ENV, 10, 1):
        for reg in batches.owned_rows(state_db, bid):
            lid = attempts.record_attempt(state_db, reg, run_id="r1", batch_id=bid)
            attempts.record_answer(state_db, lid, reg, answers[reg.behandlingsnummer](reg.behandlingsnummer))
    c = run_summary.counts(state_db, "r1")
    assert {k: v for k, v in c.by_state.items() if v} == {"created": 1, "rejected": 1, "malformed": 1, "unchanged": 1}
    assert sorted((a.behandlingsnummer, a.state) for a in c.attention) == [("1002", "rejected"), ("1003", "malformed")]
    run_summary.save(state_db, "spor_nightly", "r1", c.as_dict())
    assert run_summary.load(state_db, "spor_nightly", "r1")["by_state"]["created"] == 1


def test_what_a_dry_run_would_send_is_kept_for_the_summary(state_db):
    """A dry run keeps what it would send and what it would skip as unchanged, for its report."""
    assert summary.load_dry_run(state_db, "spor_resend", "d1") is None
    summary.save_dry_run(state_db, "spor_resend", "d1", ["1002", "1001"], ["1005"])
    assert summary.load_dry_run(state_db, "spor_resend", "d1") == {"would_send": ["1001", "1002"], "unchanged": ["1005"]}


def test_runs_of_two_dags_with_the_same_run_id_keep_their_own_summary_and_reports(state_db):
    """Runs are keyed by (dag_id, run_id): a hand-triggered nightly and resend may share a run id."""
    from spor.state import runlog

    run_summary.save(state_db, "spor_nightly", "manual__1", {"by_state": {"created": 3}})
    run_summary.save(state_db, "spor_resend", "manual__1", {"by_state": {"created": 1}})
    runlog.save_report(state_db, "spor_nightly", "manual__1", "quality", "nightly page")
    runlog.save_report(state_db, "spor_resend", "manual__1", "quality", "resend page")
    assert run_summary.load(state_db, "spor_nightly", "manual__1")["by_state"]["created"] == 3
    assert run_summary.load(state_db, "spor_resend", "manual__1")["by_state"]["created"] == 1
    assert runlog.load_report(state_db, "spor_resend", "manual__1", "quality")[1] == "resend page"
    assert runlog.load_report(state_db, "spor_backfill", "manual__1", "quality") is None


def test_the_needs_the_team_columns_fit_a_long_rule_name():
    """identity-unknown (16 characters) once ran into its state; every column starts where its heading's does."""
    attention = ([{"behandlingsnummer": str(3000000 + i), "state": "identity_unknown", "rule": "identity-unknown"}
                  for i in range(3)]
                 + [{"behandlingsnummer": "3000100", "state": "quarantined", "rule": "D17"},
                    {"behandlingsnummer": "3000101", "state": "not_buildable", "rule": "mandatory-V310-long-name"}])
    text = summary.render_text({"dag_id": "spor_nightly", "run_id": "r1", "mode": "scheduled", "by_state": {},
                                "attention": attention})
    rows = [line.split() for line in text.splitlines() if line.startswith("    ") and "3000" in line]
    assert [r[:3] for r in rows] == [["identity-unknown", "identity_unknown", "3"],
                                     ["D17", "quarantined", "1"], ["mandatory-V310-long-name", "not_buildable", "1"]]
    lines = [line for line in text.splitlines() if line.startswith("    ") and "3000" in line]
    assert len({line.index(r[1]) for line, r in zip(lines, rows)}) == 1, "the state column is aligned"
    assert len({line.index(r[2] + "  ") for line, r in zip(lines, rows)}) == 1, "the count column is aligned"


def test_a_schema_fault_without_a_type_keeps_spors_own_words_masked():
    """A fault that names no type shows SPOR's words (identity numbers masked), not 'for type ?'."""
    assert run_summary.fault_reason("cvc-pattern-valid", "kvakod", "...") == "cvc-pattern-valid for type kvakod"
    text = ("Unmarshalling Error: cvc-pattern-valid: Value '191212121212' is not facet-valid "
            "with respect to pattern '\\d{12}'.")
    reason = run_summary.fault_reason("cvc-pattern-valid", None, text)
    assert reason.startswith("Unmarshalling Error: cvc-pattern-valid: Value '") and "for type ?" not in reason
    assert "191212121212" not in reason and "############" in reason
    assert run_summary.fault_reason(None, None, "x" * 1000).endswith("…")
    assert run_summary.fault_reason(None, None, None) == "schema (SPOR gave no text)"
