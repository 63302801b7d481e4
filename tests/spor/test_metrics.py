"""spor.metrics: the names docs/metrics.md lists, what each call sends to Airflow's metrics object,
labels that carry no identity or treatment number, and a broken backend that never fails a task."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from spor import compat, metrics
from spor.lifecycle import FINAL_ANSWERS, WaitReason
from spor.transport.connection import ENVIRONMENTS
from tests.metrics_support import documented_metrics, record_metrics


@pytest.fixture
def recorder(monkeypatch):
    return record_metrics(monkeypatch)


@pytest.fixture(autouse=True)
def _fresh_failure_log():
    metrics._failed.clear()
    yield
    metrics._failed.clear()


def test_docs_list_exactly_the_metrics_of_the_code_with_their_types():
    assert documented_metrics() == metrics.METRICS


def test_every_name_is_one_airflow_sends_as_it_is():
    """StatsD's characters only (Airflow would rename others) and no longer than its limit."""
    from airflow.sdk.observability.stats import normalize_name_for_stats

    labels = {"environment": ENVIRONMENTS, "outcome": [s.value for s in FINAL_ANSWERS],
              "reason": [r.value for r in WaitReason]}
    for pattern in metrics.METRICS:
        names = {pattern}
        for key, values in labels.items():
            names = {n.replace(f"<{key}>", v) for n in names for v in values}
        for stat in names:
            assert "<" not in stat and metrics.pattern_of(stat) == pattern
            assert normalize_name_for_stats(stat, log_warning=False) == stat
            assert len(f"airflow.{stat}") <= 250


def test_registrations_one_counter_per_outcome_zeros_included_labels_as_tags(recorder):
    metrics.registrations("stage", {"created": 3, "rejected": 1}, outcomes=["created", "updated", "rejected"])
    assert recorder.calls == [
        ("incr", "spor.registrations.stage.created", 3, {"environment": "stage", "outcome": "created"}),
        ("incr", "spor.registrations.stage.rejected", 1, {"environment": "stage", "outcome": "rejected"}),
        ("incr", "spor.registrations.stage.updated", 0, {"environment": "stage", "outcome": "updated"}),
    ]


def test_each_kind_goes_to_its_call(recorder):
    metrics.answer_latency("production", 0.25)
    metrics.transient_failures("production", 4)
    metrics.breaker_openings("production", 1)
    metrics.outbox_waiting("production", {"transient": 7}, reasons=["new", "transient"])
    metrics.certificate_days_left("production", 200)
    metrics.deadline_minutes_left("production", 123.456789)
    assert [(kind, stat, value) for kind, stat, value, _ in recorder.calls] == [
        ("timing", "spor.answer_latency.production", timedelta(seconds=0.25)),
        ("incr", "spor.transient_failures.production", 4),
        ("incr", "spor.breaker_openings.production", 1),
        ("gauge", "spor.outbox_waiting.production.new", 0),
        ("gauge", "spor.outbox_waiting.production.transient", 7),
        ("gauge", "spor.certificate_days_left.production", 200),
        ("gauge", "spor.deadline_minutes_left.production", 123.5),
    ]


@pytest.mark.parametrize("value", ["19121212-1212", "191212121212", "3000025", "OP 12345"])
def test_a_label_that_could_be_an_identity_or_treatment_number_is_not_sent(recorder, value):
    metrics.certificate_days_left(value, 10)
    (_, stat, _, tags), = recorder.calls
    assert stat == "spor.certificate_days_left.redacted" and tags == {"environment": "redacted"}


def test_a_label_keeps_to_statsd_characters_a_dot_would_add_a_level(recorder):
    metrics.transient_failures("stage.x y", 1)
    assert recorder.calls[0][1] == "spor.transient_failures.stage_x_y"


def test_a_backend_that_raises_is_logged_once_and_never_fails_the_caller(monkeypatch, caplog):
    class Broken:
        def __getattr__(self, name):
            def fail(*args, **kwargs):
                raise OSError("statsd host does not resolve")
            return fail

    monkeypatch.setattr(compat, "airflow_stats", lambda: Broken())
    with caplog.at_level(logging.WARNING, logger="spor"):
        for _ in range(3):
            metrics.registrations("stage", {"created": 1})
            metrics.answer_latency("stage", 0.1)
            metrics.certificate_days_left("stage", 3)
    warnings = [r for r in caplog.records if "metrics are not sent" in r.getMessage()]
    assert len(warnings) == 1 and "OSError" in warnings[0].getMessage()


def test_metrics_that_cannot_be_loaded_are_logged_once(monkeypatch, caplog):
    def missing():
        raise ImportError("No module named 'statsd'")

    monkeypatch.setattr(compat, "airflow_stats", missing)
    with caplog.at_level(logging.WARNING, logger="spor"):
        metrics.breaker_openings("stage", 1)
        metrics.breaker_openings("stage", 1)
    assert sum("metrics are not sent" in r.getMessage() for r in caplog.records) == 1


def test_airflow_stats_of_the_installed_airflow_has_the_calls_metrics_makes():
    stats = compat.airflow_stats()
    assert all(callable(getattr(stats, call)) for call in ("incr", "gauge", "timing"))
