"""Generate expectations/spor_codelists.json FROM plugins/spor/data/codelists.json.

The code lists are data (corrected from SPOR's Variabellista, not in code); this module turns them
into GX expectations so the suite and the data cannot drift: a test rebuilds the suite and
compares it with the committed JSON. Regenerate after editing codelists.json:

    .venv/bin/python -m spor.quality.codelist_suite
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from spor.resources import location

CODELISTS_PATH = location("data") / "codelists.json"
SUITE_FILE = "spor_codelists.json"

# (code list, gate column, rule, severity, why). Severity follows our model of SPOR's schema
# (plugins/spor/schema): an enumeration/pattern there means HTTP 500 -> reject; a free 'kod' there
# means SPOR stores it and may list it on the fellista -> warn.
_TARGETS: tuple[tuple[str, str, str, str, str], ...] = (
    ("recipient", "v105", "D14", "reject", "Recipient Message Split must be SPOR (R20)"),
    ("storningstyp", "v440", "D13", "reject", "cancellation type level 1 in 1..11, never 12"),
    ("storningsorsak", "v445", "D13", "reject", "cancellation reason level 2; level 3 is never sent"),
    ("asa", "asa", "codelist-asa", "reject", "ASA class from the ASA code list"),
    ("eftervardsniva", "v335", "codelist-eftervardsniva", "warn", "planned aftercare level (V335)"),
    ("eftervardsniva", "v690", "codelist-eftervardsniva", "warn", "aftercare level at end of operation (V690)"),
    ("eftervardsniva", "v810", "codelist-eftervardsniva", "warn", "aftercare level at discharge from postop (V810)"),
    ("akut_prioritet", "akut_prioritet", "codelist-akut-prioritet", "warn", "acute priority group"),
)


def load_codelists(path: Path = CODELISTS_PATH) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def build_codelist_suite(codelists: dict[str, Any]) -> dict[str, Any]:
    """The GX 1.x suite (as a JSON-able dict) checking every coded column against its list."""
    expectations: list[dict[str, Any]] = []
    for listname, column, rule, severity, why in _TARGETS:
        cl = codelists[listname]
        meta = {
            "id": f"{rule}-{column}",
            "rule": rule,
            "severity": severity,
            "description": why,
            "codelist": listname,
            "assumption": bool(cl.get("assumption", False)),
            "inferred": False,
            "source": cl.get("source", ""),
        }
        if "values" in cl:
            expectations.append({
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": column, "value_set": sorted(cl["values"], key=_code_order)},
                "meta": meta,
            })
        else:  # a list known only by its shape (storningsorsak): the pattern is the list
            expectations.append({
                "type": "expect_column_values_to_match_regex",
                "kwargs": {"column": column, "regex": cl["pattern"]},
                "meta": meta,
            })
    return {
        "name": "spor_codelists",
        "expectations": expectations,
        "meta": {
            "generated_from": "plugins/spor/data/codelists.json",
            "regenerate": "python -m spor.quality.codelist_suite",
        },
    }


def _code_order(code: str) -> tuple[int, str]:
    return (int(code), code) if code.isdigit() else (10**9, code)


def suite_json(suite: dict[str, Any]) -> str:
    """The suite as the committed file holds it: indented JSON, non-ASCII kept, final newline."""
    return json.dumps(suite, ensure_ascii=False, indent=2) + "\n"


def main() -> None:  # pragma: no cover - a maintenance command
    from spor.quality.suites import SUITES_DIR

    target = SUITES_DIR / SUITE_FILE
    target.write_text(suite_json(build_codelist_suite(load_codelists())), encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":  # pragma: no cover
    main()
