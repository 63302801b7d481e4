"""Expectation suites: JSON files in expectations/ are the single source of the gate's rules.

Each expectation's ``meta`` carries ``id`` (stable, unique), ``rule`` (D1, D15, mandatory-V310 ...),
``severity`` (``reject``: SPOR would refuse the message, quarantine it; ``warn``: SPOR would store it
but list it on its fellista) and ``inferred``/``assumption`` flags. Loading into GX happens inside
``load_gx_suites`` so importing this module costs nothing (GX import takes 6-8 s).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spor.resources import location

if TYPE_CHECKING:
    import great_expectations as gx

#: The shipped suites, or the site's own folder (SPOR_EXPECTATIONS_DIR).
SUITES_DIR = location("expectations")
SEVERITIES = ("reject", "warn")
_REQUIRED_META = ("id", "rule", "severity", "description")


class SuiteError(ValueError):
    """A suite file is malformed: unknown expectation type, missing meta, bad severity."""


def suite_files(suites_dir: Path | None = None) -> list[Path]:
    return sorted(Path(suites_dir or SUITES_DIR).glob("*.json"))


def load_suite_dicts(suites_dir: Path | None = None) -> list[dict[str, Any]]:
    """The suites as plain dicts (no GX), with their meta checked."""
    suites = [json.loads(p.read_text(encoding="utf-8")) for p in suite_files(suites_dir)]
    if not suites:
        raise SuiteError(f"no expectation suites in {suites_dir or SUITES_DIR}")
    seen: set[str] = set()
    for suite in suites:
        for exp in suite.get("expectations", []):
            meta = exp.get("meta") or {}
            missing = [k for k in _REQUIRED_META if not meta.get(k)]
            if missing:
                raise SuiteError(f"suite {suite.get('name')}: expectation {exp.get('type')} lacks meta {missing}")
            if meta["severity"] not in SEVERITIES:
                raise SuiteError(f"suite {suite.get('name')}: {meta['id']} has severity {meta['severity']!r}")
            if meta.get("inferred") and meta["severity"] != "warn":
                raise SuiteError(f"suite {suite.get('name')}: {meta['id']} is inferred, so it must be warn")
            if meta["id"] in seen:
                raise SuiteError(f"duplicate expectation id {meta['id']}")
            seen.add(meta["id"])
    return suites


def codelist_expectation_ids(suites_dir: Path | None = None) -> frozenset[str]:
    """The ids of the expectations that check a value against a code list (``meta.codelist``): a
    treatment they reject may only need the site's code lists brought up to date."""
    return frozenset(exp["meta"]["id"] for suite in load_suite_dicts(suites_dir)
                     for exp in suite.get("expectations", []) if exp["meta"].get("codelist"))


def load_gx_suites(suites_dir: Path | None = None) -> list[gx.ExpectationSuite]:
    """Load every suite into GX objects; refuse if GX dropped an expectation it does not know.

    GX 1.x logs an unknown ``type`` and silently leaves it out (docs/notes.md#gx-drops-unknown-expectations), so the counts are compared.
    """
    import great_expectations as gx

    out = []
    for suite in load_suite_dicts(suites_dir):
        loaded = gx.ExpectationSuite(**suite)
        if len(loaded.expectations) != len(suite.get("expectations", [])):
            known = {(e.meta or {}).get("id") for e in loaded.expectations}
            dropped = [e["meta"]["id"] for e in suite["expectations"] if e["meta"]["id"] not in known]
            raise SuiteError(f"suite {suite['name']}: GX dropped expectations {dropped} (unknown type or bad kwargs)")
        out.append(loaded)
    return out


def load_gx_gate_suite(suites_dir: Path | None = None) -> gx.ExpectationSuite:
    """All suites merged into one GX suite: one validation pass instead of one per file
    (each pass costs ~0.3 s on 100k rows here). ``meta.suite`` keeps the file's suite name."""
    import great_expectations as gx

    expectations = []
    for suite in load_suite_dicts(suites_dir):
        for exp in suite.get("expectations", []):
            expectations.append({**exp, "meta": {**exp["meta"], "suite": suite["name"]}})
    merged = gx.ExpectationSuite(name="spor_gate", expectations=expectations)
    if len(merged.expectations) != len(expectations):
        known = {(e.meta or {}).get("id") for e in merged.expectations}
        dropped = [e["meta"]["id"] for e in expectations if e["meta"]["id"] not in known]
        raise SuiteError(f"GX dropped expectations {dropped} (unknown type or bad kwargs)")
    return merged
