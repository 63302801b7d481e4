"""``spor units``: every unit of ``spor_units``, its SystemId, UCR's approval per SPOR environment, and
when it was last sent and last accepted there (from the ledger in the state database).

Approval per environment: ``recorded`` (in ``spor_units``), ``ledger`` (counts as approved because
SPOR accepted its registrations there: record the approval), ``no`` (production will not take its
registrations) or ``not needed`` (stage).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import TextIO

STATE_HELP = ("state database: SQLAlchemy URL or Airflow connection id (default: connection spor_state); "
              "its ledger gives the last nights sent and accepted")


def units_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--units", help="spor_units: JSON text or a JSON file "
                                   "(default: Airflow Variable spor_units / AIRFLOW_VAR_SPOR_UNITS)")
    p.add_argument("--state", default="spor_state", help=STATE_HELP)
    p.add_argument("--json", action="store_true", help="print JSON (a list of units) instead of a table")


def units_run(args: argparse.Namespace, stdout: TextIO | None = None) -> int:
    from spor.cli.targets import existing_state_db
    from spor.errors import ConfigurationError
    from spor.registration.approval import unit_statuses
    from spor.registration.units import load_units
    from spor.settings import ENVIRONMENTS

    out = stdout or sys.stdout
    try:
        units = load_units(args.units)
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    db = existing_state_db(args.state)
    if db is None:
        return 2
    statuses = unit_statuses(units, db, ENVIRONMENTS)
    if args.json:
        json.dump([asdict(s) for s in statuses], out, indent=2, ensure_ascii=False)
        out.write("\n")
        return 0
    out.write(f"{'unit':<16} {'SystemId':<28} {'environment':<16} {'approved':<30} {'last sent':<17} last accepted\n")
    for s in statuses:
        for env, e in s.environments.items():
            approved = e["approved"] or ""
            if e["approved_date"]:
                approved = f"{e['approved_date']} {e['reference'] or ''}".strip()
            out.write(f"{s.unit:<16} {s.system_id:<28} {env:<16} {approved:<30} {_day(e['last_sent']):<17} "
                      f"{_day(e['last_accepted'])}\n")
    return 0


def _day(instant: str | None) -> str:
    return instant[:16].replace("T", " ") if instant else "-"
