"""Stage approval per unit (R4) over three stage nights with dag.test() against the stand-in: a
unit whose registrations SPOR accepts every night becomes ready to ask UCR for production; a unit
whose SystemId SPOR does not know (every registration rejected) does not, and the report says why.
Each later night changes the ASA class of the cleanly sent treatments (spor.synthetic.later)."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest

from tests.dags.nightly_support import environment, load_dag, night_settings, start_night

NIGHTS = ("2025-12-01T01:00:00+01:00", "2025-12-02T01:00:00+01:00", "2025-12-03T01:00:00+01:00")


@pytest.fixture
def night(tmp_path, standin_pki, airflow_db):
    night = start_night(tmp_path, standin_pki, n=90, seed=31, days=5)
    yield night
    night.standin.stop()


def _evidence(night, run_id: str) -> dict:
    from spor.state import database as statedb
    from spor.state import runlog

    db = statedb.connect(f"sqlite:///{night.env.state_db}")
    page = runlog.load_report(db, "spor_nightly", run_id, "stage-approval")
    assert page is not None, "a run against stage keeps the stage-approval evidence"
    found = re.search(r"<script type='application/json' id='evidence'>(.*?)</script>", page[1], re.S)
    assert found, "the page embeds its data"
    return {"page": page[1], **json.loads(found.group(1).replace("<\\/", "</"))}


def test_r4_one_unit_becomes_ready_to_ask_ucr_and_a_unit_with_rejections_does_not(night):
    from spor.pii import PERSON_ID_PATTERN
    from spor.synthetic.later import change_later

    units = dict(sorted(night.manifest.units.items()))
    assert len(units) >= 2, units
    unknown_unit, unknown_system_id = next(iter(units.items()))
    # SPOR stage does not know this unit's SystemId: every one of its registrations is rejected.
    night.standin.server.config.system_ids = frozenset(s for s in units.values() if s != unknown_system_id)
    dag = load_dag("spor_nightly")
    evidence = []
    for i, clock_start in enumerate(NIGHTS):
        if i:
            change_later(f"sqlite:///{night.env.ops_db}",
                         night.manifest, n=1000, day=date(2025, 12, i))
        with environment(night_settings(night, clock_start)):
            run = dag.test(logical_date=None)
        evidence.append(_evidence(night, run.run_id))

    last = {u["enhet"]: u for u in evidence[-1]["units"]}
    ready = [enhet for enhet, u in last.items() if u["ready"]]
    assert unknown_unit in last and not last[unknown_unit]["ready"], last[unknown_unit]
    assert last[unknown_unit]["answers"].get("rejected", 0) > 0
    assert "rejected" in last[unknown_unit]["verdict"] and "Not ready yet" in last[unknown_unit]["verdict"]
    assert ready and unknown_unit not in ready, {k: v["verdict"] for k, v in last.items()}
    for enhet in ready:
        assert last[enhet]["clean_nights"] == 3 and last[enhet]["system_ids"] == [units[enhet]]
        assert "Ready to ask UCR for production" in last[enhet]["verdict"]
    # After one or two nights nobody is ready yet: three clean nights in a row are needed.
    assert not any(u["ready"] for e in evidence[:2] for u in e["units"])
    # SPOR's answers are only answers; held-back states have their own section.
    for e in evidence:
        assert set(e["spor_answers"]) <= {"sent", "created", "updated", "rejected", "malformed"}, e["spor_answers"]
        assert set(e["held_back"]) <= {"not_buildable", "identity_unknown", "quarantined", "withdrawn"}
        assert "<h2>5. Per unit</h2>" in e["page"] and not re.search(PERSON_ID_PATTERN, e["page"])
    assert any(e["held_back"] for e in evidence), "the data set has treatments held back by the gate"
