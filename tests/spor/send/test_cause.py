"""The cause of a send-side stop or give-up, in one sentence (spor.send.cause), recorded once per run."""

from __future__ import annotations

import pytest

from spor.send import cause
from spor.state import runlog

ENDPOINT = "https://127.0.0.1:9/spor"


@pytest.mark.parametrize("detail, expected", [
    ("3000105: SPOR refused the connection (service down?)",
     f"SPOR could not be reached: nothing accepted the connection at {ENDPOINT}"),
    ("3000105: the connection to SPOR was dropped without an answer",
     f"SPOR could not be reached: every connection at {ENDPOINT} was reset or closed without an answer"),
    ("3000105: no connection to SPOR within 10 s", f"SPOR could not be reached: no connection at {ENDPOINT} within 10 s"),
    ("3000105: no answer from SPOR within 60 s", f"SPOR did not answer at {ENDPOINT} within 60 s"),
    ("3000105: SPOR answered HTTP 503 (temporarily unavailable)",
     f"SPOR answered HTTP 503 (temporarily unavailable) at {ENDPOINT}"),
])
def test_a_transient_failure_says_what_happened_without_the_number(detail, expected):
    assert cause.transient(detail, ENDPOINT) == expected


def test_a_batch_whose_retries_ran_out_before_the_breaker_opened_has_a_cause():
    """Two registrations, eight tries each: too few requests for the breaker, still a cause."""
    why = cause.of_batch(None, {"transient": 2}, attempted=16, last_failure="3000105: SPOR refused the connection",
                         endpoint=ENDPOINT)
    assert why == (f"SPOR could not be reached: nothing accepted the connection at {ENDPOINT}; "
                   "all 16 request(s) failed and the retries ran out")


def test_the_breaker_giving_up_and_the_window_closing_are_causes():
    why = cause.of_batch("unavailable", {"transient": 300}, last_failure="1: SPOR answered HTTP 503 (x)",
                         give_up_after_s=300)
    assert why is not None and why.startswith("SPOR unavailable: the circuit breaker gave up after 5 min. SPOR answered HTTP 503")
    assert "05:00 deadline" in str(cause.of_batch("deadline", {"deadline": 4}))
    assert cause.of_batch(None, {}) is None and cause.of_batch("taken_over", {"new": 3}) is None


def test_a_refused_certificate_names_its_tls_cause():
    message = ("CertificateError: TLS with SPOR failed (TLSV1_ALERT_UNKNOWN_CA) while sending 3000105: the server "
               "does not trust the client certificate's CA: wrong CA (e.g. a test certificate against production or "
               "stage, or a certificate from another CA); local check: fine. Endpoint https://x")
    assert cause.of_stop(message) == ("SPOR refused the TLS connection (TLSV1_ALERT_UNKNOWN_CA): the server does not "
                                      "trust the client certificate's CA: wrong CA (e.g. a test certificate against "
                                      "production or stage, or a certificate from another CA)")


def test_one_cause_per_run_the_first(state_db):
    assert cause.record(state_db, "r1", "send_batch", "first")
    assert not cause.record(state_db, "r1", "send_batch", "second")
    assert runlog.cause(state_db, "r1") == "first" and runlog.cause(state_db, "r2") is None


def test_the_send_tasks_last_log_line_is_words_not_a_dict():
    from spor.tasks.send_batch import in_words

    counts = {"attempted": 16, "by_state": {}, "waiting_by_reason": {"transient": 2}, "withdrawn": 0,
              "stopped": None, "rounds": 1, "breaker": [], "last_failure": "3000105: SPOR refused the connection"}
    why = cause.of_batch(None, counts["waiting_by_reason"], attempted=16, last_failure=counts["last_failure"],
                         endpoint=ENDPOINT)
    line = in_words(1, counts, why)
    assert line == ("batch 1: 16 request(s) sent; SPOR's answers: none; 2 wait (transient). Cause: SPOR could not "
                    f"be reached: nothing accepted the connection at {ENDPOINT}; all 16 request(s) failed and the "
                    "retries ran out")
    assert "{" not in line and "breaker" not in line
