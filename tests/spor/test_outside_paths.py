"""Names that live outside the package keep working across the 0.3 rename: what the DAG files
import, what Airflow keeps in its metadata database (the deadline reference and callback), the
entry points and the connection type's hook class, and the rule ids stored in old reports."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

import pytest

#: Imported by dags/*.py, which a site may deploy separately from the package (git-sync).
DAG_FILE_IMPORTS = [
    "spor.pipeline.DAG_DEFAULTS",
    "spor.pipeline.pipeline",
    "spor.tasks.extract.extract_changed",
    "spor.tasks.extract.extract_selected",
    "spor.notifications.deadline.nightly_deadline",
    "spor.require_version",
]
#: Serialized into Airflow's metadata database with every nightly run's deadline.
STORED_BY_AIRFLOW = [
    "spor.notifications.deadline.NextLocalDeadline",
    "spor.notifications.deadline.deadline_missed",
]
#: Declared in get_provider_info and stored with every spor connection's type.
PROVIDER_PATHS = ["spor.hooks.spor.SporHook", "spor.get_provider_info.get_provider_info"]


def _resolve(dotted: str):
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("dotted", DAG_FILE_IMPORTS + STORED_BY_AIRFLOW + PROVIDER_PATHS)
def test_outside_path_imports(dotted: str) -> None:
    assert _resolve(dotted) is not None


def test_deadline_reference_and_callback_keep_their_stored_paths() -> None:
    from spor.notifications.deadline import NextLocalDeadline, deadline_missed

    assert f"{NextLocalDeadline.__module__}.{NextLocalDeadline.__qualname__}" == STORED_BY_AIRFLOW[0]
    assert f"{deadline_missed.__module__}.{deadline_missed.__qualname__}" == STORED_BY_AIRFLOW[1]


def test_entry_points_resolve() -> None:
    (provider,) = [ep for ep in entry_points(group="apache_airflow_provider") if ep.value.startswith("spor.")]
    info = provider.load()()
    assert info["package-name"] == "spor-airflow"
    assert [c["hook-class-name"] for c in info["connection-types"]] == ["spor.hooks.spor.SporHook"]
    plugin = {ep.name: ep for ep in entry_points(group="airflow.plugins")}["spor"]
    cls = plugin.load()
    assert cls.name == "spor" and cls.deadline_references, "the plugin carries the 05:00 deadline reference"


def test_rule_ids_of_old_reports_are_unchanged() -> None:
    # Quality reports kept in the state database name these rule ids; a rename of the module
    # behind them must not rename the id the reports were written with.
    from spor.quality.python_checks import PYTHON_CHECKS

    types = {c["type"] for c in PYTHON_CHECKS}
    assert {"python:spor.build.identity.validate_person_id", "python:spor.build.reading.code_as_sent"} <= types
