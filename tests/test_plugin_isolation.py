"""Engineering note 16: Airflow's plugin loader must never import plugins/spor/* as top-level modules."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from conftest import PLUGINS


def _load(folder: Path) -> set[str]:
    from airflow._shared.plugins_manager.plugins_manager import _load_plugins_from_plugin_directory

    before = set(sys.modules)
    _load_plugins_from_plugin_directory(str(folder))
    loaded = set(sys.modules) - before
    return {name for name in loaded if str(getattr(sys.modules[name], "__file__", "") or "").startswith(str(folder))}


def test_plugin_loader_skips_the_spor_package():
    loaded = _load(PLUGINS)
    spor_dir = str(PLUGINS / "spor") + os.sep
    assert not [n for n in loaded if str(sys.modules[n].__file__).startswith(spor_dir)], loaded
    assert "spor_reports_plugin" in loaded  # our one plugin file is loaded, under its own name


def test_without_airflowignore_the_loader_would_shadow_modules(tmp_path):
    # The guard is meaningful: the same folder without .airflowignore gets spor's files imported
    # under their bare stem (``__init__`` here), which is what the ignore file prevents.
    copy = tmp_path / "plugins"
    shutil.copytree(PLUGINS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / ".airflowignore").unlink()
    (copy / "spor" / "__main__.py").unlink()  # would run the CLI on import: the very hazard
    saved = dict(sys.modules)
    try:
        loaded = _load(copy)
        assert "__init__" in loaded
    finally:
        for name in set(sys.modules) - set(saved):
            del sys.modules[name]
        sys.modules.update(saved)
