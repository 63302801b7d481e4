"""Quiet task logs: running the gate in a fresh process (as a task does, GX imported there for the
first time) with every logger at INFO prints the gate's own lines and none of Great Expectations'
import-time "Skipping registering function …" chatter (about 214 lines before)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

GATE_IN_A_FRESH_PROCESS = """
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s|%(levelname)s|%(message)s")
from tests.spor.quality.quality_rows import frame, valid_row
from spor.quality import run_gate
result = run_gate(frame([valid_row("1000001"), valid_row("1000002", v570="2024-01-20 08:00:00")]), run_id="quiet")
print("quarantined", sorted(result.quarantined), "warned", sorted(result.warned))
"""


def test_gate_log_has_no_gx_registration_noise_but_keeps_the_gate_counts():
    out = subprocess.run([sys.executable, "-c", GATE_IN_A_FRESH_PROCESS], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, check=True).stdout
    lines = out.splitlines()
    assert not [line for line in lines if "Skipping registering function" in line]
    assert not [line for line in lines if line.startswith("great_expectations.expectations.registry|INFO")]
    gx_lines = [line for line in lines if line.startswith("great_expectations")]
    assert len(gx_lines) <= 3, gx_lines  # what is left: the ephemeral context announcing itself
    assert any(line.startswith("spor.quality.gate|INFO|quality gate run quiet: 2 treatments") for line in lines)
    assert "warned ['1000002']" in out  # D1 (end before start) still reaches its verdict


def test_a_site_that_sets_the_gx_logger_level_keeps_it():
    code = ("import logging; logging.getLogger('great_expectations._docs_decorators').setLevel(logging.DEBUG); "
            "import spor.quality; print(logging.getLogger('great_expectations._docs_decorators').level)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "10"
