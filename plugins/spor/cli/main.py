"""Operator commands: ``python -m spor <command> ...`` (run with ``PYTHONPATH=plugins``).

- ``synth``  fill a database with synthetic OPS data and write its manifest (spor.synthetic);
- ``render`` preview: build registrations from the database into ``DIR/<behandlingsnummer>.xml``,
  after the opt-out filter, without sending anything (issue 2 point 7).

Other modules add a command by appending ``(name, help, add_arguments, run)`` to ``COMMANDS``;
``run(args) -> int`` is the exit code. Output never holds a personal identity number.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import Callable, Sequence

Command = tuple[str, str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]


# --- synth ---------------------------------------------------------------------------------
def _synth_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", required=True, help="SQLAlchemy URL, e.g. sqlite:///.demo/ops.sqlite")
    p.add_argument("--n", type=int, default=3000, help="number of treatments (default 3000)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--start", type=date.fromisoformat, default=date(2025, 11, 1),
                   help="first day of the last-changed range (YYYY-MM-DD)")
    p.add_argument("--days", type=int, default=30, help="days the last-changed times spread over")
    p.add_argument("--manifest", help="where to write the manifest (default: next to a SQLite file)")
    p.add_argument("--replace", action="store_true", help="delete existing contract rows first")


def _synth_run(args: argparse.Namespace) -> int:
    from spor.synthetic import generate

    manifest = generate(args.db, n=args.n, seed=args.seed, start=args.start, days=args.days,
                        manifest_path=args.manifest, replace=args.replace)
    c = manifest.counts()
    print(f"generated {manifest.n} treatments (seed {manifest.seed}); renderable {c['rendered']}, "
          f"blocked {sum(c['blocked'].values())}, defects {sum(c['defect'].values())}")
    if args.manifest:
        print(f"manifest: {args.manifest}")
    return 0


# --- render --------------------------------------------------------------------------------
def _render_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", required=True, help="SQLAlchemy URL, or an Airflow connection id")
    p.add_argument("--out", required=True, type=Path, help="directory for <behandlingsnummer>.xml")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every treatment in the source")
    which.add_argument("--behandlingsnummer", nargs="+", metavar="N", help="these treatments")
    p.add_argument("--units", help="unit -> SystemId mapping: JSON text or a JSON file "
                                   "(default: Airflow Variable spor_units / AIRFLOW_VAR_SPOR_UNITS)")


def _render_run(args: argparse.Namespace) -> int:
    from spor.build.preview import render_command

    return render_command(db=args.db, out=args.out, all_=args.all, numbers=args.behandlingsnummer,
                          units=args.units, stdout=sys.stdout)


# --- report --------------------------------------------------------------------------------
def _state_db(target: str):
    from spor.state import database as statedb

    return statedb.connect(target) if "://" in target else statedb.from_airflow_conn(target)


def _report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state", default="spor_state", help="state database: SQLAlchemy URL or Airflow connection id")
    p.add_argument("--run-id", help="the run (default: list the kept reports)")
    p.add_argument("--kind", default="quality", help="quality | quality-json | stage-approval | summary")
    p.add_argument("--out", type=Path, help="write to this file instead of standard output")


def _report_run(args: argparse.Namespace) -> int:
    import json

    from spor.state import run_summary, runlog
    from spor.state.summary import render_text

    db = _state_db(args.state)
    if not args.run_id:
        for run_id, kind, at in runlog.list_reports(db):
            print(f"{at:%Y-%m-%d %H:%M} {kind:<16} {run_id}")
        return 0
    if args.kind == "summary":
        saved = run_summary.load(db, args.run_id)
        body = render_text(saved) if saved else None
    else:
        found = runlog.load_report(db, args.run_id, args.kind)
        body = found[1] if found else None
    if body is None:
        print(f"no {args.kind} report kept for run {args.run_id}", file=sys.stderr)
        return 1
    if args.out:
        args.out.write_text(body, encoding="utf-8")
        print(f"written: {args.out}")
    else:
        sys.stdout.write(body if body.endswith("\n") else body + "\n")
    return 0


COMMANDS: list[Command] = [
    ("synth", "fill a database with synthetic OPS data (+ manifest)", _synth_args, _synth_run),
    ("render", "build registrations into files; nothing is sent", _render_args, _render_run),
    ("report", "print a run's quality / stage-approval report or summary from the state database", _report_args, _report_run),
]


# --- removal / audit (issue 6: spor.cli.removal) -------------------------------------------
def _removal_args(p: argparse.ArgumentParser) -> None:
    from spor.cli.removal import removal_args

    removal_args(p)


def _removal_run(args: argparse.Namespace) -> int:
    from spor.cli.removal import removal_run

    return removal_run(args)


def _audit_args(p: argparse.ArgumentParser) -> None:
    from spor.cli.removal import audit_args

    audit_args(p)


def _audit_run(args: argparse.Namespace) -> int:
    from spor.cli.removal import audit_run

    return audit_run(args)


COMMANDS += [
    ("removal", "removal requests to UCR: list, show ID, sent ID, confirm ID, raise (R11)", _removal_args,
     _removal_run),
    ("audit", "what happened to a treatment: blocked, sent, withdrawn, removal requests", _audit_args, _audit_run),
]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spor", description="OPS -> SPOR tools")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text, add_arguments, run in COMMANDS:
        p = sub.add_parser(name, help=help_text)
        add_arguments(p)
        p.set_defaults(_run=run)
    args = parser.parse_args(argv)
    return int(args._run(args))
