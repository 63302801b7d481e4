"""Hospital unit (``spor_behandling.enhet``) → SPOR SystemId and its approvals: configuration, not data.

Sources, first match wins in ``load_units``: an explicit dict, JSON text, or a JSON file; else the
Airflow Variable ``spor_units`` (JSON; the environment variable ``AIRFLOW_VAR_SPOR_UNITS`` is read
the same way, also without Airflow installed). Each unit's value is either its SystemId, or an
object with the SystemId and UCR's approval per SPOR environment (docs/settings.md)::

    {"OP-CSK": "SE2321000016-XXXX",
     "OP-NAL": {"system_id": "SE2321000016-YYYY",
                "approved": {"production": {"date": "2026-03-02", "reference": "UCR ärende 4711"}}}}

An unknown unit maps to None: the builder then refuses that treatment (rule 'unit-mapping').
Only production needs an approval (:data:`spor.settings.PRODUCTION`); stage needs none.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from spor.errors import ConfigurationError
from spor.settings import ENVIRONMENTS, PRODUCTION

__all__ = ["VARIABLE", "Approval", "Unit", "UnitMapping", "load_units", "needs_approval"]

VARIABLE = "spor_units"
_ENV = "AIRFLOW_VAR_SPOR_UNITS"
_FORM = '{"<enhet>": "<SystemId>"} or {"<enhet>": {"system_id": ..., "approved": {"production": {"date": ..., "reference": ...}}}}'


def needs_approval(environment: str | None) -> bool:
    """Whether a unit must be approved by UCR before its registrations go to ``environment``."""
    return environment == PRODUCTION


@dataclass(frozen=True)
class Approval:
    """UCR's approval of a unit for one SPOR environment, as the site recorded it."""

    date: date
    reference: str = ""   # UCR's reference, free text (a ticket, an e-mail's date)


@dataclass(frozen=True)
class Unit:
    name: str                                   # the OPS unit (enhet)
    system_id: str
    approved: Mapping[str, Approval] = field(default_factory=dict)  # environment -> approval


def _approval(unit: str, environment: str, value: Any) -> Approval:
    where = f"{VARIABLE}: unit {unit!r}, approved.{environment}"
    if not isinstance(value, Mapping) or not isinstance(value.get("date"), str):
        raise ConfigurationError(f"{where} needs {{\"date\": \"YYYY-MM-DD\", \"reference\": \"...\"}}")
    unknown = set(value) - {"date", "reference"}
    if unknown:
        raise ConfigurationError(f"{where}: unknown key(s) {sorted(unknown)}")
    try:
        when = date.fromisoformat(value["date"].strip())
    except ValueError:
        raise ConfigurationError(f"{where}: date {value['date']!r} is not YYYY-MM-DD") from None
    reference = value.get("reference", "")
    if not isinstance(reference, str):
        raise ConfigurationError(f"{where}: reference must be text")
    return Approval(when, reference.strip())


def _unit(name: Any, value: Any) -> Unit:
    if not isinstance(name, str):
        raise ConfigurationError(f"{VARIABLE}: unit {name!r} must be text")
    if isinstance(value, Mapping):
        unknown = set(value) - {"system_id", "approved"}
        if unknown:
            raise ConfigurationError(f"{VARIABLE}: unit {name!r}: unknown key(s) {sorted(unknown)}")
        system_id, approved = value.get("system_id"), value.get("approved") or {}
        if not isinstance(approved, Mapping):
            raise ConfigurationError(f"{VARIABLE}: unit {name!r}: approved must be an object per environment")
        wrong = sorted(set(approved) - set(ENVIRONMENTS))
        if wrong:
            raise ConfigurationError(f"{VARIABLE}: unit {name!r}: approved names {wrong}, "
                                     f"not one of {', '.join(ENVIRONMENTS)}")
        approvals = {env: _approval(name, env, a) for env, a in approved.items()}
    else:
        system_id, approvals = value, {}
    if not isinstance(system_id, str) or not system_id.strip():
        raise ConfigurationError(f"{VARIABLE}: unit {name!r} needs a non-empty SystemId string")
    return Unit(name.strip(), system_id.strip(), approvals)


class UnitMapping:
    def __init__(self, mapping: Mapping[str, Any]):
        if not isinstance(mapping, Mapping):
            raise ConfigurationError(f"{VARIABLE} must be a JSON object {_FORM}")
        units = [_unit(name, value) for name, value in mapping.items()]
        self._units = {u.name: u for u in units}
        self._map = {u.name: u.system_id for u in units}

    def system_id(self, enhet: Any) -> str | None:
        if enhet is None:
            return None
        return self._map.get(str(enhet).strip())

    def unit(self, enhet: Any) -> Unit | None:
        return None if enhet is None else self._units.get(str(enhet).strip())

    def units(self) -> list[Unit]:
        """Every configured unit, by name."""
        return [self._units[name] for name in sorted(self._units)]

    def approval(self, enhet: Any, environment: str) -> Approval | None:
        """UCR's approval of the unit for ``environment`` as the site recorded it, or None."""
        unit = self.unit(enhet)
        return None if unit is None else unit.approved.get(environment)

    def as_dict(self) -> dict[str, str]:
        """Unit → SystemId."""
        return dict(self._map)

    def __len__(self) -> int:
        return len(self._map)

    def __repr__(self) -> str:
        return f"UnitMapping({self._map!r})"

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> UnitMapping:
        """JSON text (starts with '{') or the path of a JSON file."""
        text = str(text_or_path)
        if not text.lstrip().startswith("{"):
            path = Path(text)
            if not path.is_file():
                raise ConfigurationError(f"unit mapping: {text!r} is neither JSON nor a file")
            text = path.read_text(encoding="utf-8")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"unit mapping is not valid JSON (line {exc.lineno})") from None
        return cls(data)

    @classmethod
    def from_airflow(cls, variable: str = VARIABLE) -> UnitMapping:
        """The Airflow Variable (or AIRFLOW_VAR_SPOR_UNITS). Missing → ConfigurationError."""
        env = os.environ.get(f"AIRFLOW_VAR_{variable.upper()}")
        if env:
            return cls.from_json(env)
        try:
            from airflow.sdk import Variable  # lazy: keeps this module cheap to import

            value = Variable.get(variable, default=None)
        except Exception as exc:  # noqa: BLE001 - no Airflow / no metadata DB here
            raise ConfigurationError(f"Airflow Variable {variable} could not be read ({type(exc).__name__})") from None
        if value is None:
            raise ConfigurationError(f"Airflow Variable {variable} is not set (JSON {_FORM})")
        return cls.from_json(value if isinstance(value, str) else json.dumps(value))


def load_units(source: Mapping[str, Any] | str | Path | UnitMapping | None = None) -> UnitMapping:
    """A dict, JSON text, a JSON file path, or None for the Airflow Variable ``spor_units``."""
    if isinstance(source, UnitMapping):
        return source
    if source is None:
        return UnitMapping.from_airflow()
    if isinstance(source, Mapping):
        return UnitMapping(source)
    return UnitMapping.from_json(source)
