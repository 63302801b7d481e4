"""A sending process for the crash and parallel tests: ``send_planned_batch`` over the real mutual-TLS
client against the stand-in. Run as ``python sending_worker.py DB_URL SCHEMA|- BATCH_ID ENDPOINT PKI_DIR THREADS``.

The clock is the simulated night clock from SPOR_CLOCK_START (the tests never depend on the time
of day they run); the window is a manual run's (blackout only).
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    db_url, schema, batch_id, endpoint, pki_dir, threads = argv
    from spor.clock import clock_from_env
    from spor.send.batch import send_planned_batch
    from spor.send.windows import SendingWindow
    from spor.state import database as statedb
    from spor.transport.client import SporClient
    from spor.transport.connection import SporConnectionConfig

    clock = clock_from_env()
    db = statedb.connect(db_url, clock=clock, schema=None if schema == "-" else schema)
    pki = Path(pki_dir)
    config = SporConnectionConfig(endpoint=endpoint, environment="stage", cert_file=str(pki / "client.pem"),
                                  key_file=str(pki / "client.key"), ca_bundle=str(pki / "ca.pem"))
    client = SporClient(config, pool_size=int(threads))
    result = send_planned_batch(int(batch_id), db=db, client=client, clock=clock,
                                window=SendingWindow.for_run(has_deadline=False, started_at=None),
                                block_check=lambda bns: set(), threads=int(threads))
    print(f"batch {batch_id}: {result.by_state} waiting={result.waiting_by_reason}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
