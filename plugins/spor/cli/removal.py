"""``python -m spor removal ...`` and ``python -m spor audit ...`` (registered in spor.cli.main).

Output names request ids, treatment numbers, statuses and times; never an identity number.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from spor.hooks.state import state_db

STATE_HELP = "state database: SQLAlchemy URL or Airflow connection id (default: connection spor_state)"
OPS_HELP = "OPS database: SQLAlchemy URL or Airflow connection id (default: connection spor_ops)"


def _reader(target: str | None) -> Any:
    from spor.extract.source import SourceReader

    return SourceReader.from_target(target or "spor_ops")


# --- removal ------------------------------------------------------------------------------
def removal_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state", help=STATE_HELP)
    sub = p.add_subparsers(dest="action", required=True)
    ls = sub.add_parser("list", help="removal requests, newest last")
    ls.add_argument("--status", choices=("raised", "sent", "confirmed"))
    ls.add_argument("--environment")
    show = sub.add_parser("show", help="print the e-mail text of a request (for drift@ucr.uu.se)")
    show.add_argument("id", type=int)
    sent = sub.add_parser("sent", help="mark a request as e-mailed to UCR by hand")
    sent.add_argument("id", type=int)
    sent.add_argument("--to", default="drift@ucr.uu.se")
    conf = sub.add_parser("confirm", help="mark a request as confirmed by UCR (data deleted)")
    conf.add_argument("id", type=int)
    conf.add_argument("--note", help="e.g. UCR's ticket number")
    rais = sub.add_parser("raise", help="raise what is due now (as the nightly run does); nothing is e-mailed")
    rais.add_argument("--ops", help=OPS_HELP)
    rais.add_argument("--environment", help="only this SPOR environment (default: every environment)")


def _refuse_missing(targets: dict[str, str]) -> bool:
    """Print a one-line refusal for each database that does not exist yet (opening it would create it)."""
    from spor.cli.targets import missing_database

    refusals = [r for r in (missing_database(t, what) for what, t in targets.items()) if r]
    for refusal in refusals:
        print(refusal, file=sys.stderr)
    return bool(refusals)


def removal_run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from spor.removal import nightly, status, store

    out = out or sys.stdout
    if _refuse_missing({"state database": args.state or "spor_state"}):
        return 2
    db = state_db(args.state)
    try:
        if args.action == "list":
            found = store.list_requests(db, status=args.status, environment=args.environment)
            if not found:
                print("no removal requests" + (f" with status {args.status}" if args.status else ""), file=out)
            for r in found:
                late = f" (+{len(r.late)} found later)" if r.late else ""
                print(f"{r.id:>5} {r.status:<9} {r.environment:<15} {r.scope:<9} {r.cause:<10} "
                      f"raised {r.raised_at:%Y-%m-%d} treatments {', '.join(r.behandlingsnummer)}{late}", file=out)
            return 0
        if args.action == "raise":
            import uuid

            raised = nightly.raise_removal_requests(db, _reader(args.ops), run_id=f"cli__{uuid.uuid4().hex[:12]}",
                                                    environment=args.environment)
            print(f"raised {len(raised)} removal request(s)", file=out)
            for r in raised:
                print(f"  request {r.id}: {r.scope} ({r.environment}) treatments {', '.join(r.behandlingsnummer)}",
                      file=out)
            return 0
        try:
            if args.action == "show":
                req = store.get(db, args.id)
                if req is None:
                    raise KeyError(f"removal request {args.id} does not exist")
                print(f"Request {req.id} — status {req.status}; raised {req.raised_at:%Y-%m-%d %H:%M} UTC "
                      f"(run {req.raised_run_id})", file=out)
                if req.sent_at:
                    print(f"sent {req.sent_at:%Y-%m-%d %H:%M} UTC to {req.sent_to}", file=out)
                if req.confirmed_at:
                    print(f"confirmed {req.confirmed_at:%Y-%m-%d %H:%M} UTC {req.note or ''}".rstrip(), file=out)
                if req.late:
                    print(f"found after it was raised (not in the text; covered when the scope is the whole "
                          f"patient): {', '.join(req.late)}", file=out)
                print(f"\nÄmne: {req.subject}\n", file=out)
                print(req.text, file=out, end="")
                return 0
            if args.action == "sent":
                r = status.mark_sent(db, args.id, to=args.to)
                print(f"request {r.id} marked sent to {r.sent_to}", file=out)
                return 0
            if args.action == "confirm":
                r = status.confirm(db, args.id, note=args.note)
                print(f"request {r.id} marked confirmed by UCR", file=out)
                return 0
        except (KeyError, ValueError) as exc:
            print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
            return 2
        raise AssertionError(args.action)
    finally:
        db.dispose()


# --- audit --------------------------------------------------------------------------------
def audit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--behandlingsnummer", required=True, nargs="+", metavar="N")
    p.add_argument("--state", help=STATE_HELP)
    p.add_argument("--ops", help=OPS_HELP)
    p.add_argument("--no-ops", action="store_true", help="state database only (block list not checked)")


def audit_run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from spor.removal.audit import audit, render_audit

    out = out or sys.stdout
    needed = {"state database": args.state or "spor_state"}
    if not args.no_ops:
        needed["OPS database"] = args.ops or "spor_ops"
    if _refuse_missing(needed):
        return 2
    db = state_db(args.state)
    reader = None if args.no_ops else _reader(args.ops)
    try:
        for i, bnr in enumerate(args.behandlingsnummer):
            if i:
                print(file=out)
            print(render_audit(audit(db, reader, bnr)), file=out)
    finally:
        db.dispose()
    return 0
