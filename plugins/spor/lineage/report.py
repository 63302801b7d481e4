"""What a task body reports about its run for the catalogue: the OPS views it read, the SPOR
environment it sent to, and the run's counts. Kept in the task's context (one per task instance),
where the tasks' operator reads it when OpenLineage asks (:mod:`spor.lineage.operator`).

Only names of views, environments, rule ids and counts: never a row's value, never an identity
or treatment number (docs/lineage.md#privacy).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from spor.lineage import assets

if TYPE_CHECKING:
    from airflow.sdk import Asset

log = logging.getLogger("spor")

#: The key of a task's TaskLineage in its Airflow context.
CONTEXT_KEY = "spor_lineage"

#: Custom run facets, by the name they carry in an OpenLineage event.
RUN_COUNTS = "spor_runCounts"
QUALITY_GATE = "spor_qualityGate"

#: The views the quality gate checks: the treatments and their lists (not the block list).
CHECKED_VIEWS = tuple(v for v in assets.OPS_VIEWS if v != "spor_sparrlista")


@dataclass
class TaskLineage:
    """Filled by a body while it runs; read after it ended, also when it failed."""

    #: Resolves the Assets of the OPS views (from the OPS connection) when a body reads them.
    ops: Callable[[tuple[str, ...]], list[Asset]] = field(default=lambda views: [])
    inputs: list[Asset] = field(default_factory=list)
    outputs: list[Asset] = field(default_factory=list)
    #: view -> rows read (OpenLineage's input statistics)
    rows_read: dict[str, int] = field(default_factory=dict)
    #: the quality gate's expectation outcomes, without values (spor.quality.gate.ExpectationOutcome)
    assertions: list[dict[str, Any]] = field(default_factory=list)
    #: custom run facet name -> its fields
    run_facets: dict[str, dict[str, Any]] = field(default_factory=dict)

    def reads_ops(self, views: tuple[str, ...] = assets.OPS_VIEWS) -> None:
        """The body reads these OPS views. Lineage never fails a task: a connection that cannot be
        named is logged and the task goes on (its reader reports the real problem)."""
        try:
            self.inputs = self.ops(views)
        except Exception as exc:  # noqa: BLE001 - lineage is a by-product; the task's own reads decide
            log.warning("lineage: the OPS views cannot be named (%s: %s)", type(exc).__name__, exc)

    def sends_to(self, asset: Asset) -> None:
        self.outputs = [asset]

    @property
    def empty(self) -> bool:
        return not (self.inputs or self.outputs or self.run_facets or self.assertions or self.rows_read)


def for_context(context: MutableMapping[str, Any], ops_conn_id: Callable[[], str]) -> TaskLineage:
    """The task's TaskLineage, made on first use; ``ops_conn_id`` names the OPS connection."""
    found = context.get(CONTEXT_KEY)
    if isinstance(found, TaskLineage):
        return found
    made = TaskLineage(ops=lambda views: assets.ops_assets_for(ops_conn_id(), views))
    context[CONTEXT_KEY] = made
    return made


def of_context(context: MutableMapping[str, Any] | None) -> TaskLineage | None:
    """What the task reported, or None when it reported nothing."""
    found = (context or {}).get(CONTEXT_KEY)
    return found if isinstance(found, TaskLineage) and not found.empty else None
