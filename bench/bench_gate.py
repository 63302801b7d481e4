"""Benchmark the quality gate (GX import, validation, peak memory) on synthetic rows.

    .venv/bin/python bench/bench_gate.py [--rows 20000 --rows 100000]

Each size runs in a fresh process (spor.quality.benchmark), so the GX import is measured too.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT)]

from spor.quality.benchmark import main  # noqa: E402

if __name__ == "__main__":
    main(sys.argv[1:] or ["--rows", "20000", "--rows", "100000"])
