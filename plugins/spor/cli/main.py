"""Operator commands: ``spor <command> ...`` (or ``python -m spor <command> ...``).

- ``synth``  fill a database with synthetic OPS data and write its manifest (spor.synthetic);
- ``render`` preview: build registrations from the database into ``DIR/<behandlingsnummer>.xml``,
  after the opt-out filter, without sending anything (spor.cli.render);
- ``units`` units, SystemIds, approval per SPOR environment, last sent and accepted (spor.cli.units).

Other modules add a command by appending ``(name, help, add_arguments, run)`` to ``COMMANDS``;
``run(args) -> int`` is the exit code. Output never holds a personal identity number.

Standard output carries only what the command prints (a report as JSON or HTML parses as such);
log lines go to standard error, below WARNING only with ``--verbose``; connections and Variables
are also looked up in Airflow's metadata database where one is configured (spor.cli.environment).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

Command = tuple[str, str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]


# --- synth (spor.synthetic.cli) -----------------------------------------------------------
def _synth_args(p: argparse.ArgumentParser) -> None:
    from spor.synthetic.cli import synth_args

    synth_args(p)


def _synth_run(args: argparse.Namespace) -> int:
    from spor.synthetic.cli import synth_run

    return synth_run(args)


# --- render --------------------------------------------------------------------------------
def _render_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", required=True, help="SQLAlchemy URL, or an Airflow connection id")
    p.add_argument("--out", required=True, type=Path, help="directory for <behandlingsnummer>.xml")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every treatment in the source")
    which.add_argument("--behandlingsnummer", nargs="+", metavar="N", help="these treatments")
    p.add_argument("--units", help="unit -> SystemId mapping: JSON text or a JSON file "
                                   "(default: Airflow Variable spor_units / AIRFLOW_VAR_SPOR_UNITS)")
    p.add_argument("--state", help="state database (SQLAlchemy URL or Airflow connection id): also say which "
                                   "rendered treatments the night would skip as unchanged since SPOR's last final answer")
    p.add_argument("--environment", help="SPOR environment of those answers (default: the spor_default connection's)")


def _render_run(args: argparse.Namespace) -> int:
    from spor.cli.render import preview_command

    return preview_command(db=args.db, out=args.out, all_=args.all, numbers=args.behandlingsnummer,
                           units=args.units, stdout=sys.stdout, state=args.state, environment=args.environment,
                           verbose=args.verbose)


# --- report --------------------------------------------------------------------------------
SUMMARY = "summary"


def report_kinds() -> tuple[str, ...]:
    """Every kind ``spor report --kind`` prints: the kept reports, and the summary."""
    from spor.quality.run_reports import COVERAGE_JSON, QUALITY, QUALITY_JSON, STAGE_APPROVAL, STAGE_APPROVAL_JSON
    from spor.state.summary import DRY_RUN

    return (QUALITY, QUALITY_JSON, STAGE_APPROVAL, STAGE_APPROVAL_JSON, COVERAGE_JSON, DRY_RUN, SUMMARY)


def _report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state", default="spor_state", help="state database: SQLAlchemy URL or Airflow connection id")
    p.add_argument("--dag-id", default="spor_nightly", help="the run's DAG (default spor_nightly)")
    p.add_argument("--run-id", help="the run (default: list the kept reports)")
    kinds = report_kinds()
    p.add_argument("--kind", default="quality", choices=kinds, metavar="KIND",
                   help=f"{' | '.join(kinds)} (default quality): HTML, JSON (the *-json kinds and dry-run) "
                        "or the summary's text")
    p.add_argument("--out", type=Path, help="write to this file instead of standard output")


def _report_run(args: argparse.Namespace) -> int:

    from spor.cli.targets import existing_state_db
    from spor.state import run_summary, runlog
    from spor.state.summary import render_text

    db = existing_state_db(args.state)
    if db is None:
        return 2
    if not args.run_id:
        for dag_id, run_id, kind, at in runlog.list_reports(db):
            print(f"{at:%Y-%m-%d %H:%M} {kind:<16} {dag_id or '?'} {run_id}")
        return 0
    if args.kind == SUMMARY:
        saved = run_summary.load(db, args.dag_id, args.run_id)
        body = render_text(saved) if saved else None
    else:
        found = runlog.load_report(db, args.dag_id, args.run_id, args.kind)
        body = found[1] if found else None
    if body is None:
        print(f"no {args.kind} report kept for run {args.run_id} of {args.dag_id}", file=sys.stderr)
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
    ("report", "print a run's report or summary from the state database (--kind quality, quality-json, "
               "stage-approval, stage-approval-json, coverage-json, dry-run or summary)", _report_args, _report_run),
]


# --- removal / audit (spor.cli.removal) ----------------------------------------------------
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


# --- check-connection ----------------------------------------------------------------------
def _check_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--conn-id", default="spor_default", help="the SPOR connection to check (default spor_default)")


def _check_run(args: argparse.Namespace) -> int:
    """What the UI's Test button does, run where the night runs (a worker holds the certificate)."""
    from spor.hooks.spor import SporHook

    ok, message = SporHook(spor_conn_id=args.conn_id).test_connection()
    if not ok and args.conn_id not in message:
        message = f"connection {args.conn_id}: {message}"
    print(f"{'ok' if ok else 'FAILED'}: {message}")
    return 0 if ok else 1


COMMANDS += [
    ("check-connection", "the connection Test button on this machine: certificate, key, one mutual-TLS request",
     _check_args, _check_run),
]


# --- units (spor.cli.units) ------------------------------------------------------------------
def _units_args(p: argparse.ArgumentParser) -> None:
    from spor.cli.units import units_args

    units_args(p)


def _units_run(args: argparse.Namespace) -> int:
    from spor.cli.units import units_run

    return units_run(args)


COMMANDS += [
    ("units", "units, SystemIds, UCR's approval per environment, last sent and accepted (--json)", _units_args,
     _units_run),
]


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true",
                        help="also log lines below WARNING (on standard error) and, for render, every unchanged treatment")
    top = argparse.ArgumentParser(prog="spor", description="OPS -> SPOR tools. Standard output is the command's "
                                  "output (reports parse as JSON or HTML); log lines go to standard error.")
    sub = top.add_subparsers(dest="command", required=True)
    for name, help_text, add_arguments, run in COMMANDS:
        p = sub.add_parser(name, help=help_text, description=help_text, parents=[common])
        add_arguments(p)
        p.set_defaults(_run=run)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    from spor.cli.environment import logs_to_stderr, use_metadata_database

    args = parser().parse_args(argv)
    logs_to_stderr(verbose=args.verbose)
    use_metadata_database()
    return int(args._run(args))
