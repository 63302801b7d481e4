"""SPOR code lists as data (plugins/spor/data/codelists.json), loaded once.

Lists whose values are not public carry ``"assumption": true``: correct them in the JSON from
SPOR Variabellista 4.1, not in code.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from spor.resources import location

CODELISTS_JSON = location("data") / "codelists.json"


@lru_cache(maxsize=4)
def load_codelists(path: Path | str | None = None) -> dict[str, Any]:
    source = Path(path) if path else CODELISTS_JSON
    with source.open(encoding="utf-8") as f:
        data = json.load(f)
    return {k: v for k, v in data.items() if not k.startswith("_")}


def codelist(name: str) -> dict[str, Any]:
    """One list as in the JSON (keys: variable, assumption, source, values/known/pattern...)."""
    return load_codelists()[name]


def values(name: str) -> dict[str, str]:
    """Code → meaning for a list that enumerates its values ('values' or, else, 'known')."""
    entry = codelist(name)
    return dict(entry.get("values") or entry.get("known") or {})


def is_assumption(name: str) -> bool:
    return bool(codelist(name).get("assumption"))


def recipients() -> tuple[str, ...]:
    """Accepted Recipient Message Split values (V105, R20): today only 'SPOR'."""
    return tuple(values("recipient"))


def never_sent_storningstyp() -> tuple[str, ...]:
    """Level-1 cancellation types that exist but are never sent (D13: '12')."""
    return tuple(codelist("storningstyp").get("never_sent", {}))


@lru_cache(maxsize=1)
def storningsorsak_patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(level-2 pattern, level-3 pattern) for V445 cancellation reasons (D13)."""
    entry = codelist("storningsorsak")
    return re.compile(entry["pattern"]), re.compile(entry["level3_pattern"])
