"""spor_nightly end to end with dag.test(): synthetic OPS → opt-out → gate → build → outbox → stand-in."""

from __future__ import annotations

import re

import pytest

from tests.dags.nightly_support import environment, load_dag, night_settings, start_night

WINTER_NIGHT = "2025-12-01T01:00:00+01:00"


def _received(night) -> list[dict]:
    from standin.recorder import read_index

    return read_index(night.env.received)


@pytest.fixture
def night(tmp_path, standin_pki, airflow_db):
    night = start_night(tmp_path, standin_pki, n=240, seed=11)
    yield night
    night.standin.stop()


def test_manual_run_without_logical_date_sends_every_buildable_unblocked_treatment_once(night):
    """R5/R11/R17: a run triggered by hand (no logical date, note 2) sends exactly the manifest's
    buildable, unblocked treatments that pass the gate; blocked patients never reach the stand-in."""
    dag = load_dag("spor_nightly")
    with environment(night_settings(night, WINTER_NIGHT)):
        run = dag.test(logical_date=None)
    assert run.state == "success", run.state
    received = _received(night)
    sent = {r["behandlingsnummer"] for r in received}
    manifest = night.manifest
    assert not sent & set(manifest.blocked()), "a blocked treatment reached SPOR (R11)"
    assert sent <= manifest.expected_rendered()
    assert len(received) == len(sent), "a registration was sent twice"
    assert all(r["outcome"] == "created" for r in received)
    # the personal identity numbers of the blocked patients are nowhere in what was received
    blocked_files = [p for p in night.env.received.glob("*.xml") if any(b in p.name for b in manifest.blocked())]
    assert blocked_files == []
    _assert_batches_labelled_and_stage_evidence_kept(night, run.run_id)


def _assert_batches_labelled_and_stage_evidence_kept(night, run_id):
    """Map indexes carry batch numbers, never personal data; a stage run keeps the R4 evidence."""
    import os
    import sqlite3
    from pathlib import Path

    from spor.pii import PERSON_ID_PATTERN
    from spor.state import database as statedb
    from spor.state import runlog

    meta = sqlite3.connect(Path(os.environ["AIRFLOW_HOME"]) / "airflow.db")
    labels = [r[0] for r in meta.execute(
        "select rendered_map_index from task_instance where run_id = ? and task_id = 'send_batch'", (run_id,))]
    meta.close()
    assert labels and all(re.fullmatch(r"batch \d+", label or "") for label in labels), labels
    db = statedb.connect(f"sqlite:///{night.env.state_db}")
    page = runlog.load_report(db, "spor_nightly", run_id, "stage-approval")
    assert page is not None, "a run against stage keeps the stage-approval evidence (R4)"
    assert "Mapping coverage" in page[1] and not re.search(PERSON_ID_PATTERN, page[1])


def test_second_night_sends_nothing_unchanged(night):
    """Unchanged content (same C14N hash as SPOR's last final answer) is not sent again."""
    dag = load_dag("spor_nightly")
    with environment(night_settings(night, WINTER_NIGHT)):
        dag.test(logical_date=None)
    first = len(_received(night))
    with environment(night_settings(night, "2025-12-02T01:00:00+01:00")):
        run = dag.test(logical_date=None)
    assert run.state == "success"
    assert len(_received(night)) == first
