"""The task ids of both DAGs and the XCom keys that link their tasks: one name each, used by the
pipeline that wires them, the bodies that push and pull, and the run events they record."""

from __future__ import annotations

CHECK_CERTIFICATE = "check_certificate"
EXTRACT = "extract"
QUALITY_GATE = "quality_gate"
BUILD_AND_STAGE = "build_and_stage"
PLAN_BATCHES = "plan_batches"
WAIT_FOR_WINDOW = "wait_for_window"
SEND_BATCH = "send_batch"
RAISE_REMOVAL_REQUESTS = "raise_removal_requests"
SUMMARIZE = "summarize"

#: Pushed by check_certificate: the SPOR environment of the run's connection (the ledger's key).
XCOM_ENVIRONMENT = "spor_environment"
#: Pushed by plan_batches: when wait_for_window lets the sends start (a real instant, ISO 8601).
XCOM_WINDOW_OPENS_AT = "window_opens_at"
