"""Hospital unit (``spor_behandling.enhet``) → SPOR SystemId: configuration, not data.

Sources, first match wins in ``load_units``: an explicit dict, JSON text, or a JSON file; else the
Airflow Variable ``spor_units`` (JSON ``{"<enhet>": "<SystemId>"}``; the environment variable
``AIRFLOW_VAR_SPOR_UNITS`` is read the same way, also without Airflow installed).
An unknown unit maps to None: the builder then refuses that treatment (rule 'unit-mapping').
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from spor.errors import ConfigurationError

__all__ = ["VARIABLE", "UnitMapping", "load_units"]

VARIABLE = "spor_units"
_ENV = "AIRFLOW_VAR_SPOR_UNITS"


class UnitMapping:
    def __init__(self, mapping: Mapping[str, str]):
        if not isinstance(mapping, Mapping):
            raise ConfigurationError(f"{VARIABLE} must be a JSON object {{\"<enhet>\": \"<SystemId>\"}}")
        clean: dict[str, str] = {}
        for unit, system_id in mapping.items():
            if not isinstance(unit, str) or not isinstance(system_id, str) or not system_id.strip():
                raise ConfigurationError(f"{VARIABLE}: unit {unit!r} needs a non-empty SystemId string")
            clean[unit.strip()] = system_id.strip()
        self._map = clean

    def system_id(self, enhet: Any) -> str | None:
        if enhet is None:
            return None
        return self._map.get(str(enhet).strip())

    def as_dict(self) -> dict[str, str]:
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
            raise ConfigurationError(f"Airflow Variable {variable} is not set (JSON {{\"<enhet>\": \"<SystemId>\"}})")
        return cls.from_json(value if isinstance(value, str) else json.dumps(value))


def load_units(source: Mapping[str, str] | str | Path | UnitMapping | None = None) -> UnitMapping:
    """A dict, JSON text, a JSON file path, or None for the Airflow Variable ``spor_units``."""
    if isinstance(source, UnitMapping):
        return source
    if source is None:
        return UnitMapping.from_airflow()
    if isinstance(source, Mapping):
        return UnitMapping(source)
    return UnitMapping.from_json(source)
