"""What the task bodies report for the catalogue (spor.lineage.report) and what OpenLineage gets
of it (spor.lineage.facets): the OPS views read, the quality gate's assertions per suite, the
SPOR environment sent to with its "sent to SPOR" asset event, and the run's counts, also when a
task fails; never a value of a row."""

from __future__ import annotations

import re
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk import AssetAlias
from airflow.sdk.exceptions import AirflowFailException

from spor.errors import RunStoppingError
from spor.lifecycle import State
from spor.lineage import assets, facets, report
from spor.lineage.operator import SporTaskOperator, lineage_of
from spor.pii import PERSON_ID_PATTERN
from spor.tasks import ids
from spor.tasks.build_and_stage import build_and_stage
from spor.tasks.extract import extract_changed
from spor.tasks.plan_batches import plan_batches
from spor.tasks.quality_gate import quality_gate
from spor.tasks.send_batch import send_batch
from spor.tasks.summarize import summarize
from tests.spor.tasks.factory import Night, make_run, settings, spor_connection


def _night(db, ops, clock, tmp_path) -> Night:
    conn = SimpleNamespace(conn_type="sqlite", host=str(tmp_path / "ops.sqlite"), port=None, schema=None, extra_dejson={})
    lineage = report.TaskLineage(ops=lambda views: assets.ops_assets(conn, views))
    return Night(make_run(), db, ops, clock, settings(), lineage=lineage)


@dataclass
class _Accessor:
    added: list[tuple[Any, dict]] = field(default_factory=list)

    def add(self, asset: Any, extra: dict | None = None) -> None:
        self.added.append((asset, extra or {}))


def test_extract_and_gate_report_the_ops_views_rows_and_assertions(db, ops, clock, tmp_path):
    night = _night(db, ops, clock, tmp_path)
    extracted = night.call(extract_changed)
    views = [a.uri.split("?")[0].rsplit("/", 1)[-1] for a in night.lineage.inputs]
    assert views == list(assets.OPS_VIEWS)
    assert night.lineage.rows_read == {"spor_behandling": extracted["extracted"]}

    gate = report.TaskLineage(ops=night.lineage.ops)
    night.lineage = gate
    counts = night.call(quality_gate, extracted)
    assert len(gate.inputs) == len(report.CHECKED_VIEWS)
    assert gate.run_facets[report.QUALITY_GATE]["checked"] == counts["checked"]
    assert {a["suite"] for a in gate.assertions} >= {"spor_mandatory", "spor_codelists", "python"}

    lineage = facets.operator_lineage(gate)
    (treatments,) = [d for d in lineage.inputs if d.name == "spor_behandling"]
    assert treatments.namespace == f"sqlite://localhost{tmp_path}/ops.sqlite"
    checked = treatments.inputFacets["dataQualityAssertions"].assertions
    assert any(not a.success and a.severity == "error" for a in checked)  # the generator's defects
    suites = lineage.run_facets[report.QUALITY_GATE].suites
    assert sum(s["expectations"] for s in suites.values()) == len(gate.assertions)
    assert not PERSON_ID_PATTERN.search(repr(lineage))


def test_a_failed_extraction_still_names_what_it_read(db, ops, clock, tmp_path):
    night = _night(db, ops, clock, tmp_path)
    with sqlite3.connect(tmp_path / "ops.sqlite") as conn:
        conn.execute("DROP TABLE spor_sparrlista")
    with pytest.raises(RunStoppingError):
        night.call(extract_changed)
    assert len(night.lineage.inputs) == len(assets.OPS_VIEWS) and night.lineage.rows_read == {}


def test_a_batch_that_sent_announces_the_spor_asset_and_the_summary_its_counts(db, ops, clock, tmp_path,
                                                                              standin_factory, standin_pki, monkeypatch):
    standin = standin_factory(system_ids=frozenset(ops.units.as_dict().values()))
    spor_connection(monkeypatch, standin.url, standin_pki)
    night = _night(db, ops, clock, tmp_path)
    extracted = night.call(extract_changed)
    night.ti.task_id = ids.EXTRACT
    night.ti.xcom_push("return_value", extracted)
    batches = night.call(plan_batches, night.call(build_and_stage, extracted, {}))
    events: defaultdict[Any, _Accessor] = defaultdict(_Accessor)
    night.lineage = report.TaskLineage()
    result = night.call(send_batch, batches[0], context={"outlet_events": events})
    expected = assets.create_spor_asset(endpoint=standin.url, environment="stage")
    assert night.lineage.outputs == [expected]
    ((asset, extra),) = events[AssetAlias(assets.SENT_TO_SPOR)].added
    assert asset == expected and extra["attempted"] == result["attempted"] > 0
    assert set(extra) == {"environment", "batch", "attempted", "by_state"}
    (output,) = facets.operator_lineage(night.lineage).outputs
    assert (output.namespace, output.name) == (f"spor://{asset.uri.split('/')[2]}", "stage")

    for other in batches[1:]:  # every batch is sent, as in a run: a run that left work fails its summary
        night.call(send_batch, other, context={})
    night.lineage = report.TaskLineage()
    by_state = night.call(summarize)
    counts = night.lineage.run_facets[report.RUN_COUNTS]
    assert counts["byState"][State.CREATED.value] == by_state[State.CREATED.value] and counts["environment"] == "stage"


def test_a_failing_summary_reports_its_counts_first(db, ops, clock, tmp_path):
    night = _night(db, ops, clock, tmp_path)
    extracted = night.call(extract_changed)
    night.call(plan_batches, night.call(build_and_stage, extracted, {}))
    night.lineage = report.TaskLineage()
    with pytest.raises(AirflowFailException):
        night.call(summarize, run_finished=lambda dag_id, run_id: True)
    facet = facets.operator_lineage(night.lineage).run_facets[report.RUN_COUNTS]
    assert facet.byState[State.WAITING.value] > 0 and facet.dryRun is False


def test_the_operator_answers_with_what_the_body_reported_or_nothing():
    assert issubclass(SporTaskOperator, object) and SporTaskOperator.custom_operator_name == "@task"
    context: dict = {}
    ti = SimpleNamespace(get_template_context=lambda: context)
    assert lineage_of(ti) is None  # nothing reported: the provider's inlets and outlets apply
    reported = report.for_context(context, lambda: "spor_ops")
    assert report.for_context(context, lambda: "other") is reported
    reported.run_facets[report.RUN_COUNTS] = {"environment": None, "mode": "manual", "dryRun": False,
                                              "byState": {}, "warned": 0, "waitingByReason": {}}
    found = lineage_of(ti)
    assert list(found.run_facets) == [report.RUN_COUNTS] and found.inputs == found.outputs == []
    assert re.fullmatch(r"spor_[a-z][A-Za-z]+", report.RUN_COUNTS) and re.fullmatch(r"spor_[a-z][A-Za-z]+", report.QUALITY_GATE)
