"""Where the files the code reads at run time are: SQL, expectation suites, schema files, data.

An installed wheel carries them inside the package (``spor/sql``, ``spor/expectations``,
``spor/schema``, ``spor/data``), found through ``importlib.resources``. A checkout of the
repository (development, or a git-sync of ``dags/`` and ``plugins/`` with the rest of the repo)
keeps ``sql/`` and ``expectations/`` at the top level, beside ``plugins/``. A site that edits
any of them points the environment variable named in :data:`OVERRIDES` at its own copy.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

#: Environment variable that replaces each shipped location.
OVERRIDES = {
    "sql": "SPOR_SQL_DIR",
    "expectations": "SPOR_EXPECTATIONS_DIR",
    "schema": "SPOR_SCHEMA_LOCATION",
    "data": "SPOR_DATA_DIR",
}


def shipped(name: str) -> Path:
    """The folder ``name`` as this installation ships it (wheel first, then the repository layout)."""
    if name not in OVERRIDES:
        raise KeyError(f"unknown resource {name!r}; known: {', '.join(OVERRIDES)}")
    packaged = Path(str(files("spor") / name))
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / name  # plugins/spor -> repository root


def location(name: str) -> Path:
    """Where to read ``name`` from: the site's override when set, else the shipped folder."""
    override = os.environ.get(OVERRIDES.get(name, ""), "")
    return Path(override).expanduser() if override else shipped(name)
