"""Airflow's plugin loader must never import plugins/spor/* as top-level modules; the UI plugin loads
by entry point in an Airflow whose plugins folder does not hold this repository, and once when it
does (git-sync deployments)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from tests.conftest import PLUGINS


def _under(module, folder: Path) -> bool:
    return str(getattr(module, "__file__", "") or "").startswith(str(folder) + os.sep)


def _load(folder: Path) -> dict[str, str]:
    """Run Airflow's loader on ``folder``; return {module name: file} of what it imported from there.

    Modules the loader imported before (another test) are taken out first so they show up again;
    the ``spor`` package itself, imported the normal way, stays.
    """
    from airflow._shared.plugins_manager.plugins_manager import _load_plugins_from_plugin_directory

    for name, module in list(sys.modules.items()):
        if module is not None and _under(module, folder) and name != "spor" and not name.startswith("spor."):
            del sys.modules[name]
    before = {name: id(m) for name, m in sys.modules.items()}
    _load_plugins_from_plugin_directory(str(folder))
    return {
        name: str(m.__file__)
        for name, m in sys.modules.items()
        if m is not None and before.get(name) != id(m) and _under(m, folder)
    }


def test_plugin_loader_skips_the_spor_package():
    loaded = _load(PLUGINS)
    assert not [n for n, f in loaded.items() if _under_path(f, PLUGINS / "spor")], loaded
    assert "spor_plugin" in loaded  # our one plugin file is loaded, under its own name


def _under_path(file: str, folder: Path) -> bool:
    return file.startswith(str(folder) + os.sep)


def test_without_airflowignore_the_loader_would_shadow_modules(tmp_path):
    # The guard is meaningful: the same folder without .airflowignore gets spor's files imported
    # under their bare stem (``__init__``, ``errors``, ...), which is what the ignore file prevents.
    copy = tmp_path / "plugins"
    shutil.copytree(PLUGINS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / ".airflowignore").unlink()
    (copy / "spor" / "__main__.py").unlink()  # would run the CLI on import: the very hazard
    try:
        loaded = _load(copy)
        assert "__init__" in loaded and "errors" in loaded
    finally:
        # forget only what came from the copy; Airflow's own modules stay imported
        for name, module in list(sys.modules.items()):
            if module is not None and _under(module, copy):
                del sys.modules[name]


def _plugins_listed(plugins_folder: Path, home: Path) -> list[dict]:
    import json
    import subprocess

    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins_folder)}
    out = subprocess.run([sys.executable, "-m", "airflow", "plugins", "-o", "json"], env=env, capture_output=True,
                         text=True, timeout=300, check=True).stdout
    return json.loads(out[out.index("["):]) if "[" in out else []


def test_installed_package_registers_the_ui_plugin_by_entry_point_without_a_plugins_folder(tmp_path):
    empty = tmp_path / "plugins"
    empty.mkdir()
    listed = _plugins_listed(empty, tmp_path / "home")
    spor = [p for p in listed if p["name"] == "spor"]
    assert len(spor) == 1 and "spor.plugin:SporPlugin" in spor[0]["source"]
    assert spor[0]["external_views"][0]["destination"] == "dag_run"


def test_repo_plugins_folder_beside_the_installed_package_registers_it_once(tmp_path):
    listed = _plugins_listed(PLUGINS, tmp_path / "home")
    assert [p["name"] for p in listed].count("spor") == 1
