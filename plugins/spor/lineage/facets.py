"""A task's reported lineage as OpenLineage objects. Imported only when the OpenLineage provider
asks for it (extra ``[lineage]``): it imports the OpenLineage client at module level.

Datasets: the reported Assets through Airflow's registry of asset converters (the ``asset-uris``
of ``get_provider_info``). Facets: input statistics and OpenLineage's data-quality assertions on
the OPS views, and two run facets of the package, ``spor_runCounts`` and ``spor_qualityGate``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attr
from openlineage.client.event_v2 import InputDataset, OutputDataset
from openlineage.client.facet_v2 import (
    InputDatasetFacet,
    RunFacet,
    data_quality_assertions_dataset,
    input_statistics_input_dataset,
)

from spor.extract.source import LISTS
from spor.lineage import assets
from spor.lineage.report import QUALITY_GATE, RUN_COUNTS, TaskLineage

if TYPE_CHECKING:
    from airflow.sdk import Asset

log = logging.getLogger("spor")

#: A list variable of the quality frame -> the child view it comes from (docs/source-contract.md).
LIST_VIEWS = {name: "spor_operationskod" if name.endswith("operationskod") else
              "spor_komplikation" if name.endswith("komplikation") else f"spor_{name}" for name in LISTS}
TREATMENTS = "spor_behandling"


@attr.define
class SporRunCountsRunFacet(RunFacet):
    """The run's counts per state of the registration state machine (docs/state-machine.md), what
    it left waiting per reason, and the SPOR environment; the numbers the run summary prints.
    Fields in camelCase, as OpenLineage's own facets."""

    environment: str | None
    mode: str
    dryRun: bool
    byState: dict[str, int]
    warned: int
    waitingByReason: dict[str, int]


@attr.define
class SporQualityGateRunFacet(RunFacet):
    """The quality gate's verdicts (treatments checked, quarantined, warned) and, per suite, its
    expectations and how many failed; the assertions themselves are on the OPS views."""

    checked: int
    quarantined: int
    identityUnknown: int
    warned: int
    byRule: dict[str, int]
    suites: dict[str, dict[str, int]]


def _dataset(asset: Asset) -> Any:
    """Through Airflow's registry, so the converter a provider registered is the one used; directly
    when the package is not installed as a distribution (git-sync of plugins/: no entry point)."""
    from airflow.providers.common.compat.openlineage.utils.utils import translate_airflow_asset

    found = translate_airflow_asset(asset, None)
    if found is not None:
        return found
    scheme = asset.uri.split(":", 1)[0]
    converter = {assets.OPS_SCHEME: assets.ops_to_openlineage, assets.SPOR_SCHEME: assets.spor_to_openlineage}.get(scheme)
    log.debug("lineage: no converter registered for %s", scheme)
    return converter(asset) if converter else None


def view_of(asset: Asset) -> str:
    """The view an OPS Asset names (the last part of its path)."""
    return urlsplit(asset.uri).path.rstrip("/").rsplit("/", 1)[-1]


def assertion(outcome: dict[str, Any]) -> data_quality_assertions_dataset.Assertion:
    """One expectation's outcome: its type and id, pass or fail, severity, and counts (no values)."""
    columns = outcome.get("columns") or []
    return data_quality_assertions_dataset.Assertion(
        assertion=str(outcome.get("type") or "custom"),
        name=str(outcome["expectation_id"]),
        success=bool(outcome["success"]),
        column=columns[0] if len(columns) == 1 and columns[0] not in LIST_VIEWS else None,
        severity="error" if outcome.get("severity") == "reject" else "warn",
        description=str(outcome.get("description") or "") or None,
        expected="0",
        actual=str(outcome.get("unexpected_count", 0)),
        params={"suite": outcome.get("suite") or "", "rule": outcome.get("rule") or "",
                "checked": outcome.get("element_count", 0), "failing": outcome.get("unexpected_count", 0)},
    )


def assertion_view(outcome: dict[str, Any]) -> str:
    """The OPS view an expectation is about: a list variable's child view, else the treatments."""
    for column in outcome.get("columns") or []:
        if column in LIST_VIEWS:
            return LIST_VIEWS[column]
    return TREATMENTS


def suite_totals(outcomes: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    per: dict[str, dict[str, int]] = {}
    for o in outcomes:
        suite = per.setdefault(o.get("suite") or "", {"expectations": 0, "failed": 0, "failing": 0})
        suite["expectations"] += 1
        suite["failed"] += 0 if o["success"] else 1
        suite["failing"] += int(o.get("unexpected_count") or 0)
    return dict(sorted(per.items()))


def _run_facets(reported: TaskLineage) -> dict[str, RunFacet]:
    out: dict[str, RunFacet] = {}
    if (counts := reported.run_facets.get(RUN_COUNTS)) is not None:
        out[RUN_COUNTS] = SporRunCountsRunFacet(**counts)
    if (gate := reported.run_facets.get(QUALITY_GATE)) is not None:
        out[QUALITY_GATE] = SporQualityGateRunFacet(**gate, suites=suite_totals(reported.assertions))
    return out


def operator_lineage(reported: TaskLineage) -> Any:
    """The OpenLineage provider's OperatorLineage of what a task reported."""
    from airflow.providers.openlineage.extractors import OperatorLineage

    by_view: dict[str, list[data_quality_assertions_dataset.Assertion]] = {}
    for outcome in reported.assertions:
        by_view.setdefault(assertion_view(outcome), []).append(assertion(outcome))
    inputs = []
    for asset in reported.inputs:
        if (ds := _dataset(asset)) is None:
            continue
        view = view_of(asset)
        facets: dict[str, InputDatasetFacet] = {}
        if view in reported.rows_read:
            facets["inputStatistics"] = input_statistics_input_dataset.InputStatisticsInputDatasetFacet(
                rowCount=reported.rows_read[view])
        if view in by_view:
            facets["dataQualityAssertions"] = data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
                assertions=by_view[view])
        inputs.append(InputDataset(namespace=ds.namespace, name=ds.name, facets=ds.facets, inputFacets=facets))
    outputs = [OutputDataset(namespace=ds.namespace, name=ds.name, facets=ds.facets)
               for ds in (_dataset(a) for a in reported.outputs) if ds is not None]
    return OperatorLineage(inputs=inputs, outputs=outputs, run_facets=_run_facets(reported))
