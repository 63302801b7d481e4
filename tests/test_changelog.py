"""CHANGELOG.md, the package version and the DAG files' version range move together.

A release bumps ``spor.__version__``, says what changed under its own heading, and either keeps
the DAG files' ``REQUIRES_SPOR`` range or moves it; this test fails when one of the three is
forgotten.
"""

from __future__ import annotations

import ast
import re

from packaging.specifiers import SpecifierSet
from packaging.version import Version

import spor
from tests.conftest import DAGS, ROOT

HEADING = re.compile(r"^## \[(?P<version>[^\]]+)\](?: - (?P<date>\d{4}-\d{2}-\d{2}))?\s*$", re.M)


def _releases() -> list[tuple[str, str | None]]:
    return [(m["version"], m["date"]) for m in HEADING.finditer((ROOT / "CHANGELOG.md").read_text(encoding="utf-8"))]


def _requires_spor(dag_file) -> str | None:
    for node in ast.parse(dag_file.read_text(encoding="utf-8")).body:
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "REQUIRES_SPOR" for t in node.targets)
                and isinstance(node.value, ast.Constant)):
            return node.value.value
    return None


def test_releases_are_dated_and_newest_first_below_unreleased():
    releases = _releases()
    assert releases and releases[0] == ("Unreleased", None), "CHANGELOG.md starts with ## [Unreleased]"
    versions = [Version(v) for v, _ in releases[1:]]
    assert versions, "CHANGELOG.md names no release"
    assert versions == sorted(versions, reverse=True), f"releases not newest first: {versions}"
    assert all(date for _, date in releases[1:]), "every release heading is '## [x.y.z] - YYYY-MM-DD'"


def test_the_newest_release_is_the_package_version_and_fits_every_dag_file():
    newest = _releases()[1][0]
    assert newest == spor.__version__, f"CHANGELOG.md's newest release is {newest}, spor.__version__ is {spor.__version__}"
    ranges = {path.name: _requires_spor(path) for path in sorted(DAGS.glob("*.py"))}
    assert len(ranges) >= 2 and all(ranges.values()), f"every DAG file sets REQUIRES_SPOR: {ranges}"
    outside = {name: r for name, r in ranges.items() if newest not in SpecifierSet(r)}
    assert not outside, f"{newest} is outside the REQUIRES_SPOR of {outside}"
