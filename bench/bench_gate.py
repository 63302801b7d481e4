"""Benchmark of the quality gate: GX import time, validation time and peak memory, separately.

    .venv/bin/python bench/bench_gate.py --rows 100000 [--rows 20000]

Each size runs in a fresh process so the GX import is measured cold and peak RSS is per size.
Rows come from the synthetic OPS generator when it is available (realistic defects), else from
one valid row repeated with a few defects. Prints one JSON line per size.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from typing import Any


def _frame(rows: int):
    import pandas as pd

    try:
        from collections import defaultdict
        from types import SimpleNamespace

        import sqlalchemy as sa

        from spor.quality.frame import frame_from_treatments
        from spor.synthetic import generate

        url = f"sqlite:///{tempfile.mkdtemp(prefix='spor-bench-')}/ops.db"
        manifest = generate(url, n=rows, seed=1)
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            recs = {r["behandlingsnummer"]: dict(r) for r in conn.execute(sa.text("SELECT * FROM spor_behandling")).mappings()}
            kids: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
            for r in conn.execute(sa.text("SELECT * FROM spor_operationskod ORDER BY typ, ordning")).mappings():
                kids[r["behandlingsnummer"]]["preliminar_operationskod" if r["typ"] == "preliminar" else "operationskod"].append(r["kod"])
            for r in conn.execute(sa.text("SELECT * FROM spor_anestesiatgard ORDER BY ordning")).mappings():
                kids[r["behandlingsnummer"]]["anestesiatgard"].append(r["kod"])
        ts = [SimpleNamespace(behandlingsnummer=b, row=r, children=dict(kids[b]))
              for b, r in recs.items() if manifest.treatments[b].blocked is None]
        return frame_from_treatments(ts), "synthetic"
    except ImportError:
        base = {"enhet": "OP-A", "personnummer": "191212121212", "akut": 0, "v310": "2024-01-02 10:00:00",
                "v565": "2024-01-20 08:05:00", "v570": "2024-01-20 09:05:00", "asa": "2",
                "preliminar_operationskod": ["NFB49"], "operationskod": ["NFB49"], "anestesiatgard": []}
        return pd.DataFrame([{**base, "behandlingsnummer": str(1_000_000 + i)} for i in range(rows)]), "repeated"


def measure(rows: int) -> dict[str, Any]:
    import resource

    t0 = time.perf_counter()
    import great_expectations  # noqa: F401 - timing the import is the measurement

    gx_import = time.perf_counter() - t0
    rss_after_import = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    from spor.quality import run_gate
    from spor.quality.suites import load_suite_dicts

    df, source = _frame(rows)
    t1 = time.perf_counter()
    result = run_gate(df, run_id="benchmark")
    gate_seconds = time.perf_counter() - t1
    return {
        "rows": len(df), "source": source,
        "expectations": sum(len(s["expectations"]) for s in load_suite_dicts()) + 3,
        "gx_import_s": round(gx_import, 2),
        "validation_s": round(result.validation_seconds, 2),     # prepare + GX + Python checks
        "gx_validate_s": round(result.gx_validate_seconds, 2),
        "run_gate_total_s": round(gate_seconds, 2),
        "quarantined": len(result.quarantined), "warned": len(result.warned),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "rss_after_gx_import_mb": round(rss_after_import),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, action="append", help="rows per run (repeatable)")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)  # child process
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one)))
        return
    for rows in args.rows or [20_000, 100_000]:
        out = subprocess.run([sys.executable, __file__, "--one", str(rows)], capture_output=True, text=True, check=True)
        print(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
