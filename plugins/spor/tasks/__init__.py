"""The bodies of the DAGs' tasks and what a run is (nightly, manual, backfill, resend)."""
