"""The synthetic generator writes into MariaDB through the CLI (`python -m spor synth --db
mysql+pymysql://...`) with the planned last-changed times, and refills it with --replace."""

from __future__ import annotations

import subprocess
import sys

import sqlalchemy as sa

from spor.synthetic import Manifest
from tests.conftest import PLUGINS, ROOT


def _synth(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "spor", "synth", "--db", url, *args],
        cwd=ROOT, env={"PYTHONPATH": str(PLUGINS), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=120,
    )


def test_cli_synth_writes_into_mariadb_and_replaces(mariadb_database, tmp_path):
    manifest_path = tmp_path / "m.json"
    result = _synth(mariadb_database, "--n", "120", "--seed", "5", "--manifest", str(manifest_path))
    assert result.returncode == 0, result.stderr
    assert "generated 120 treatments" in result.stdout
    manifest = Manifest.load(manifest_path)
    engine = sa.create_engine(mariadb_database)
    try:
        with engine.connect() as conn:
            stamped = {b: t.strftime("%Y-%m-%d %H:%M:%S") for b, t in conn.execute(
                sa.text("SELECT behandlingsnummer, andrad_tid FROM spor_behandling"))}
            assert stamped == {b: e.andrad_tid for b, e in manifest.treatments.items()}
            assert conn.execute(sa.text("SELECT count(*) FROM spor_sparrlista")).scalar_one() > 0

        refused = _synth(mariadb_database, "--n", "50", "--seed", "6")
        assert refused.returncode != 0 and "not empty" in refused.stderr
        replaced = _synth(mariadb_database, "--n", "50", "--seed", "6", "--replace")
        assert replaced.returncode == 0, replaced.stderr
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM spor_behandling")).scalar_one() == 50
    finally:
        engine.dispose()
