"""Lineage end to end (docs/lineage.md): a resend by treatment numbers, a nightly run and a failed
run, each with dag.test() against the stand-in, with the OpenLineage provider's file transport
(``[openlineage] transport``) writing every event into a temporary folder. The events name the
OPS views read and the SPOR environment sent to, carry the data-quality assertions and the run's
counts, and hold no identity number; a treatment number only where Airflow puts it.

The runs go in one child process (on this test process's Airflow home, without importing the
tests' conftest, which would make another): Airflow's OpenLineage configuration and listener are
set up once per process, as on a worker, and this test process may have set them up without a
transport.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from tests.conftest import DAGS, ROOT
from tests.dags.nightly_support import night_settings, start_night
from tests.dags.test_metadata_pii import Scanner, identity_values

NIGHT = "2025-12-01T01:00:00+01:00"
UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")

RUNS = """
import json, sqlite3, sys
from airflow.dag_processing.dagbag import DagBag
from spor.notifications.deadline import for_dag_test
numbers, ops_db, dags, out = json.loads(sys.argv[1]), sys.argv[2], DagBag(dag_folder=sys.argv[3]), sys.argv[4]
nightly, resend = for_dag_test(dags.dags["spor_nightly"]), for_dag_test(dags.dags["spor_resend"])
runs = {"resend": resend.test(run_conf={"behandlingsnummer": numbers}), "nightly": nightly.test(logical_date=None)}
with sqlite3.connect(ops_db) as conn:  # the block list cannot be read: extract fails, nothing is sent
    conn.execute("ALTER TABLE spor_sparrlista RENAME TO spor_sparrlista_moved")
runs["failed"] = nightly.test(logical_date=None)
with open(out, "w") as f:  # not stdout: the lineage client's log thread writes there too
    json.dump({name: [run.run_id, str(run.state)] for name, run in runs.items()}, f)
"""


@pytest.fixture
def night(tmp_path, standin_pki, airflow_db):
    night = start_night(tmp_path, standin_pki, n=80, seed=23, days=5)
    yield night
    night.standin.stop()


def _downstream_example(spor_uri: str) -> str:
    """The docs' "sent to SPOR" example, pointed at the stand-in's environment."""
    text = (ROOT / "docs" / "lineage.md").read_text(encoding="utf-8")
    (code,) = [block for block in re.findall(r"```python\n(.*?)```", text, re.S) if "@dag(schedule=" in block]
    return code.replace("spor://integration.ucr.uu.se/production", spor_uri)


def _schedule_downstream(folder: Path, spor_uri: str) -> str:
    """Parse the example into Airflow's metadata database, unpaused, as the DAG processor would."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    folder.mkdir()
    (folder / "after_spor.py").write_text(_downstream_example(spor_uri), encoding="utf-8")
    bag = DagBag(dag_folder=str(folder))
    assert not bag.import_errors, bag.import_errors
    DagBundlesManager().sync_bundles_to_db()  # the bundle row the DAG refers to
    sync_bag_to_db(bag, "dags-folder", None)
    with create_session() as session:
        session.get(DagModel, "after_spor").is_paused = False
    return "after_spor"


def _run_id(event: dict) -> str | None:
    facets = event["run"].get("facets", {})
    for name in ("airflow", "airflowDagRun"):
        if name in facets:
            return facets[name]["dagRun"]["run_id"]
    return None


def _task(events: list[dict], job: str, kind: str) -> dict:
    (found,) = [e for e in events if e["job"]["name"].endswith(f".{job}") and e["eventType"] == kind]
    return found


def _without_airflows_places(event: dict) -> dict:
    """The event less where Airflow puts a run's conf and its error text (allowed to hold
    treatment numbers): each facet's ``dagRun.conf`` and ``errorMessage``."""
    copy = json.loads(json.dumps(event))
    facets = copy["run"].get("facets", {})
    facets.pop("errorMessage", None)
    for facet in facets.values():
        if isinstance(facet, dict) and isinstance(facet.get("dagRun"), dict):
            facet["dagRun"].pop("conf", None)
    return copy


def test_events_name_datasets_carry_quality_and_counts_and_no_identity_number(night, tmp_path):
    import os

    from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    m = night.manifest
    numbers = sorted(b for b in m.expected_rendered() if not m.treatments[b].defects)[:4]
    host = night.env.endpoint.split("/")[2]
    spor_uri = f"spor://{host}/stage"
    downstream = _schedule_downstream(tmp_path / "site_dags", spor_uri)

    identities = identity_values(night.env.ops_db)  # patients and block list, before the failed run hides the latter
    lineage = tmp_path / "lineage"
    env = {**os.environ, **night_settings(night, NIGHT),
           "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps({"type": "file", "log_file_path": str(lineage / "event")}),
           "AIRFLOW__OPENLINEAGE__NAMESPACE": "spor-test"}
    lineage.mkdir()
    result = tmp_path / "runs.json"
    done = subprocess.run([sys.executable, "-c", RUNS, json.dumps(numbers), str(night.env.ops_db), str(DAGS), str(result)],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and result.exists(), (done.stdout + done.stderr)[-3000:]
    runs = json.loads(result.read_text())
    assert [runs[k][1] for k in ("resend", "nightly", "failed")] == ["success", "success", "failed"], runs

    by_run: dict[str | None, list[dict]] = defaultdict(list)
    files = sorted(lineage.iterdir())
    for path in files:
        event = json.loads(path.read_text(encoding="utf-8"))
        by_run[_run_id(event)].append(event)
    assert set(by_run) == {run_id for run_id, _ in runs.values()}, set(by_run)
    resend, nightly, failed = (by_run[runs[k][0]] for k in ("resend", "nightly", "failed"))

    ops_namespace = f"sqlite://localhost{night.env.ops_db}"
    for events, sent in ((resend, len(numbers)), (nightly, None)):
        extract = _task(events, "extract", "COMPLETE")
        assert {(d["namespace"], d["name"]) for d in extract["inputs"]} == {
            (ops_namespace, v) for v in ("spor_behandling", "spor_operationskod", "spor_diagnos",
                                         "spor_anestesiatgard", "spor_komplikation", "spor_sparrlista")}
        outputs = {(d["namespace"], d["name"]) for e in events if e["job"]["name"].endswith(".send_batch")
                   and e["eventType"] == "COMPLETE" for d in e["outputs"]}
        assert outputs == {(f"spor://{host}", "stage")}
        gate = _task(events, "quality_gate", "COMPLETE")
        (treatments,) = [d for d in gate["inputs"] if d["name"] == "spor_behandling"]
        assertions = treatments["inputFacets"]["dataQualityAssertions"]["assertions"]
        assert assertions and all(a["params"]["suite"] and a["severity"] in ("error", "warn") for a in assertions)
        suites = gate["run"]["facets"]["spor_qualityGate"]["suites"]
        assert {"spor_mandatory", "spor_codelists", "python"} <= set(suites)
        counts = _task(events, "summarize", "COMPLETE")["run"]["facets"]["spor_runCounts"]
        assert counts["environment"] == "stage" and set(counts["byState"]) >= {"created", "quarantined", "waiting"}
        if sent is not None:
            assert counts["byState"]["created"] == sent and counts["mode"] == "resend"
    gate = _task(nightly, "quality_gate", "COMPLETE")
    failing = [a for d in gate["inputs"] for a in (d.get("inputFacets") or {}).get("dataQualityAssertions", {})
               .get("assertions", []) if not a["success"]]
    assert failing, "the generator's defects fail expectations"

    # The failed run: extract names what it could not read, summarize still carries the counts.
    extract = _task(failed, "extract", "FAIL")
    assert len(extract["inputs"]) == 6 and "spor_sparrlista" in extract["run"]["facets"]["errorMessage"]["message"]
    summary = _task(failed, "summarize", "FAIL")
    assert summary["run"]["facets"]["spor_runCounts"]["byState"]["created"] == 0

    # Privacy: none of the OPS's identities in any written form, and nothing shaped like one
    # (spor.pii.PERSON_ID_PATTERN) that is a valid number; UUIDs aside, their digit groups can look like one.
    scanner = Scanner(identities)
    for path in files:
        scanner.scan(UUID.sub("<uuid>", path.read_text(encoding="utf-8")), path.name)
    assert scanner.findings == []
    # ... and treatment numbers only in a resend's conf or an error text.
    all_numbers = re.compile(r"(?<![0-9])(?:" + "|".join(map(re.escape, m.treatments)) + r")(?![0-9])")
    assert any(all_numbers.search(json.dumps(e)) for e in resend), "the resend's conf names its numbers"
    leaks = [f"{e['job']['name']} {e['eventType']}" for events in by_run.values() for e in events
             if all_numbers.search(json.dumps(_without_airflows_places(e)))]
    assert leaks == []

    # "Sent to SPOR": each batch that sent made an event of the SPOR Asset, and the site's DAG
    # scheduled on it (the docs' example) is queued to run.
    with create_session() as session:
        asset = session.scalars(select(AssetModel).where(AssetModel.uri == spor_uri)).one()
        sources = {e.source_task_id for e in session.scalars(select(AssetEvent).where(AssetEvent.asset_id == asset.id))}
        queued = session.scalars(select(AssetDagRunQueue).where(AssetDagRunQueue.target_dag_id == downstream)).all()
    assert sources == {"send_batch"} and [q.asset_id for q in queued] == [asset.id]
