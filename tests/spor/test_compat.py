"""spor.compat picks, for the installed Airflow, how a run-stopping error escapes Airflow's retries:
a retry policy on 3.3 and later, AirflowFailException on 3.2. Both branches run here: the 3.2 one
with the detection patched."""

from __future__ import annotations

from importlib.metadata import version

import pytest
from airflow.sdk.exceptions import AirflowFailException
from packaging.version import Version

from spor import compat
from spor.errors import CertificateError, SystemicError

ON_3_3 = Version(version("apache-airflow-task-sdk")) >= Version("1.3")  # the Task SDK of Airflow 3.3


@pytest.fixture
def on_3_2(monkeypatch):
    monkeypatch.setattr(compat, "has_retry_policy", lambda: False)


def test_the_detection_matches_the_installed_airflow():
    assert compat.has_retry_policy() is ON_3_3


@pytest.mark.skipif(not ON_3_3, reason="the retry policy exists from Airflow 3.3 on")
def test_on_3_3_a_retry_policy_fails_run_stopping_errors_and_leaves_the_rest_to_the_retries():
    from airflow.sdk import RetryAction

    policy = compat.run_stopping_not_retried()["retry_policy"]
    assert compat.RUN_STOPPING == "spor.errors.RunStoppingError"
    assert policy.evaluate(CertificateError("rejected"), try_number=1, max_tries=3).action is RetryAction.FAIL
    assert policy.evaluate(SystemicError("all ERROR"), try_number=1, max_tries=3).action is RetryAction.FAIL
    assert policy.evaluate(OSError("worker lost"), try_number=1, max_tries=3).action is RetryAction.DEFAULT
    assert compat.raise_run_stopping(CertificateError("rejected")) is None  # the caller re-raises it


def test_on_3_2_no_retry_policy_and_a_run_stopping_error_becomes_airflows_fail_exception(on_3_2):
    assert compat.run_stopping_not_retried() == {}
    error = CertificateError("the client certificate expired")
    with pytest.raises(AirflowFailException, match="^CertificateError: the client certificate expired$") as raised:
        compat.raise_run_stopping(error)
    assert raised.value.__cause__ is error


def test_the_send_tasks_retry_twice_either_way():
    from spor import pipeline

    assert pipeline.SEND_RETRIES["retries"] == 2
    assert ("retry_policy" in pipeline.SEND_RETRIES) is ON_3_3
