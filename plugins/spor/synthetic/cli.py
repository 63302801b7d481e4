"""``python -m spor synth``: fill a database with synthetic OPS data and write its manifest.

    python -m spor synth --db URL [--n N] [--seed S] [--start YYYY-MM-DD] [--days D]
                         [--manifest PATH] [--replace]

It prints one line of counts (never an identity number) and, with ``--manifest``, where the
manifest went. ``spor.cli.main`` registers the command.
"""

from __future__ import annotations

import argparse
from datetime import date

__all__ = ["synth_args", "synth_run"]


def synth_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", required=True, help="SQLAlchemy URL, e.g. sqlite:///.demo/ops.sqlite")
    p.add_argument("--n", type=int, default=3000, help="number of treatments (default 3000)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--start", type=date.fromisoformat, default=date(2025, 11, 1),
                   help="first day of the last-changed range (YYYY-MM-DD)")
    p.add_argument("--days", type=int, default=30, help="days the last-changed times spread over")
    p.add_argument("--manifest", help="where to write the manifest (default: next to a SQLite file)")
    p.add_argument("--replace", action="store_true", help="delete existing contract rows first")


def synth_run(args: argparse.Namespace) -> int:
    from spor.synthetic.fill import generate

    manifest = generate(args.db, n=args.n, seed=args.seed, start=args.start, days=args.days,
                        manifest_path=args.manifest, replace=args.replace)
    c = manifest.counts()
    print(f"generated {manifest.n} treatments (seed {manifest.seed}); renderable {c['rendered']}, "
          f"blocked {sum(c['blocked'].values())}, defects {sum(c['defect'].values())}")
    if args.manifest:
        print(f"manifest: {args.manifest}")
    return 0
