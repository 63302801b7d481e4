"""Site settings: connection ids, the deadline, batch sizes. Read inside tasks, never at DAG parse time.

Defaults below; a site overrides any of them with the Airflow Variable ``spor_config`` (JSON), e.g.
``AIRFLOW_VAR_SPOR_CONFIG='{"deadline": "04:30", "threads_per_task": 8}'``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import time
from typing import Any

from spor.errors import ConfigurationError

VARIABLE = "spor_config"
#: Nightly sending stops here, Swedish time (R19: what arrives before 05:00 is in the morning's
#: reports); also where the 05:00 Deadline Alert fires. ``spor_config`` may move it.
DEFAULT_DEADLINE = time(5, 0)
#: Keys ``spor_config`` accepted before and ignores now, with what to do instead.
IGNORED = {"pool": "the send tasks' pool is the provider option [spor] pool (AIRFLOW__SPOR__POOL)"}

#: SPOR's environments: what a SPOR connection's ``environment`` names (the ledger's key).
ENVIRONMENTS = ("production", "stage", "stage-test-cert")
#: The one environment a unit sends to only once UCR has approved it.
PRODUCTION = "production"

log = logging.getLogger("spor")


@dataclass(frozen=True)
class Settings:
    ops_conn_id: str = "spor_ops"            # the OPS database (source contract), any common-sql database
    state_conn_id: str = "spor_state"        # our state database (outbox, ledger, watermark)
    spor_conn_id: str = "spor_default"       # SPOR RegistrationService (endpoint, certificate)
    #: resend target environments -> connection ids (the connection says which environment it is)
    environments: Mapping[str, str] = field(
        default_factory=lambda: {"production": "spor_production", "stage": "spor_stage", "stage-test-cert": "spor_stage_test"}
    )
    deadline: time = DEFAULT_DEADLINE        # nightly sending stops here; the Deadline Alert fires here
    send_margin_seconds: float = 5.0         # stop this long before 05:00 / 05:15: requests must arrive in time
    overlap_minutes: int = 120               # re-read this much before the watermark (late commits, autumn hour)
    # A run is split into at most this many send tasks, whatever the outbox holds, so the number
    # of task instances does not grow with the registrations (and stays far below max_map_length).
    batches_per_run: int = 8
    min_batch_size: int = 100                # fewer, fuller batches for a small outbox
    pool_slots: int = 2                      # keep equal to the pool's slots (capacity estimate)
    threads_per_task: int = 4
    certificate_warn_days: int = 30
    #: Treatments held back for configuration are re-read every night for this many days, then given up.
    held_configuration_days: int = 30

    @property
    def concurrency(self) -> int:
        return self.pool_slots * self.threads_per_task


def from_mapping(values: Mapping[str, Any]) -> Settings:
    known = {f.name for f in fields(Settings)}
    unknown = set(values) - known - set(IGNORED)
    if unknown:
        raise ConfigurationError(f"{VARIABLE}: unknown setting(s) {sorted(unknown)}")
    for key in sorted(set(values) & set(IGNORED)):
        log.warning("%s.%s is ignored: %s", VARIABLE, key, IGNORED[key])
    converted = {k: v for k, v in values.items() if k in known}
    if isinstance(converted.get("deadline"), str):
        converted["deadline"] = time.fromisoformat(converted["deadline"])
    return replace(Settings(), **converted)


def parse(raw: str | Mapping[str, Any] | None) -> Settings:
    """Settings from the Variable's value (None or empty = defaults)."""
    if not raw:
        return Settings()
    try:
        return from_mapping(json.loads(raw) if isinstance(raw, str) else raw)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"{VARIABLE} is not valid JSON settings: {exc}") from None


def load() -> Settings:
    """Settings from the Airflow Variable ``spor_config`` (missing variable = defaults), in a task."""
    from airflow.sdk import Variable

    return parse(Variable.get(VARIABLE, default=None))
