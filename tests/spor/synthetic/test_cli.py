"""``python -m spor synth``: the command fills the database and writes the manifest where asked."""

from __future__ import annotations

import subprocess
import sys

from spor.synthetic import Manifest


def test_cli_synth_writes_db_and_manifest(tmp_path):
    from tests.conftest import ROOT

    manifest = tmp_path / "out" / "m.json"
    result = subprocess.run(
        [sys.executable, "-m", "spor", "synth", "--db", f"sqlite:///{tmp_path / 'ops.sqlite'}",
         "--n", "120", "--seed", "5", "--manifest", str(manifest)],
        cwd=ROOT, env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "generated 120 treatments" in result.stdout
    assert len(Manifest.load(manifest).treatments) == 120
