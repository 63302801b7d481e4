"""The metrics end to end (docs/metrics.md): ``spor_nightly`` under ``dag.test`` against the
stand-in over mutual TLS, with Airflow's own StatsD output pointed at a UDP socket of this test.

One clean night and one night whose first 24 requests SPOR answers 503 (the breaker opens, probes
and closes) together send every metric docs/metrics.md lists, each with the type it names, and
with values that match what the stand-in received. No line of ours carries an identity number,
and no name a treatment number.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from spor import metrics
from spor.pii import PERSON_ID_PATTERN
from tests.dags.nightly_support import ClockScript, environment, load_dag, outbox, received, scripted_settings, start_night, xcom
from tests.metrics_support import STATSD_TYPE, Sample, StatsdListener, documented_metrics

CLOCK = "2026-01-15T01:00:00+01:00"
ENV = "stage"
ANSWERS = ("created", "updated", "rejected", "malformed")


def _initialize_airflow_stats() -> None:
    """What Airflow's task runner does when a task process starts: read ``[metrics]`` and make
    the task-sdk's metrics object from it. dag.test runs the tasks in this process, whose metrics
    object was made before the test pointed StatsD at its socket."""
    from airflow.sdk.configuration import conf
    from airflow.sdk.observability import stats
    from airflow.sdk.observability.metrics import stats_utils

    stats.initialize(factory=stats_utils.get_stats_factory(),
                     export_legacy_names=conf.getboolean("metrics", "legacy_names_on"))


@pytest.fixture
def statsd():
    listener = StatsdListener()
    try:
        with environment(listener.airflow_env()):
            _initialize_airflow_stats()
            yield listener
    finally:
        _initialize_airflow_stats()  # the configuration without StatsD again: nothing is sent
        listener.close()


@dataclass
class NightSeen:
    """One night: its run, the batches' XComs, what the stand-in received, and what StatsD got."""

    run: Any
    batches: list[dict]
    index: list[dict]          # the stand-in's, one entry per request
    waiting: dict[str, str]    # the outbox afterwards
    samples: list[Sample]      # the spor ones, parsed
    night: Any

    @property
    def by_name(self) -> dict[str, list[Sample]]:
        out: dict[str, list[Sample]] = defaultdict(list)
        for s in self.samples:
            out[s.name].append(s)
        return out


def _night(tmp_path, pki, statsd, *, inject_503: int = 0) -> NightSeen:
    night = start_night(tmp_path, pki, n=120, seed=31)
    try:
        if inject_503:
            night.standin.inject("503", inject_503)
        script = ClockScript(CLOCK, speed=1)
        dag = script.attach(load_dag("spor_nightly"))
        with environment(scripted_settings(night, script, config={"batches_per_run": 2, "threads_per_task": 4})):
            dr = dag.test()
        batches = [b for b in (xcom(dr, "send_batch", map_index=i) for i in range(2)) if b]
        index = received(night)
        waiting = outbox(night)
    finally:
        night.standin.stop()
    return NightSeen(dr, batches, index, waiting, statsd.samples(statsd.take()), night)


def _total(by_name: dict[str, list[Sample]], stat: str) -> float:
    return sum(s.value for s in by_name.get(stat, []))


def _gauge(by_name: dict[str, list[Sample]], stat: str) -> float:
    """A gauge's last value (StatsD sends a negative one as 0 then the value)."""
    return by_name[stat][-1].value


def _openings(transitions: list[str]) -> int:
    """Trips from closed, as the breaker counts them."""
    return sum(1 for before, now in zip(["closed", *transitions], transitions) if now == "open" and before == "closed")


def _certificate_days_left(night) -> int:
    from cryptography import x509

    cert = x509.load_pem_x509_certificate((night.env.pki / "client.pem").read_bytes())
    return (cert.not_valid_after_utc - datetime.fromisoformat(CLOCK)).days


def _check_night(seen: NightSeen, *, transient: int) -> None:
    """The values of one night against what the stand-in received and what the batches returned."""
    by_name = seen.by_name
    assert seen.run.state == "success" and seen.waiting == {}, (seen.run.state, seen.waiting)
    outcomes = [r["outcome"] for r in seen.index]
    for answer in ANSWERS:  # every final answer the stand-in gave, counted once
        assert _total(by_name, f"spor.registrations.{ENV}.{answer}") == outcomes.count(answer), answer
    assert outcomes.count("created") > 100
    assert len(by_name[f"spor.answer_latency.{ENV}"]) == sum(outcomes.count(a) for a in ANSWERS)
    assert all(0 < s.value < 60_000 for s in by_name[f"spor.answer_latency.{ENV}"])  # milliseconds
    assert _total(by_name, f"spor.transient_failures.{ENV}") == transient == outcomes.count("injected:503")
    assert _total(by_name, f"spor.breaker_openings.{ENV}") == sum(_openings(b["breaker"]) for b in seen.batches)
    assert {_gauge(by_name, f"spor.outbox_waiting.{ENV}.{reason}") for reason in
            ("new", "deadline", "blackout", "transient")} == {0}          # the night is done
    assert _gauge(by_name, f"spor.certificate_days_left.{ENV}") == _certificate_days_left(seen.night)
    margins = [s.value for s in by_name[f"spor.deadline_minutes_left.{ENV}"]]
    assert len(margins) == len(seen.batches) and all(230 < m <= 240 for m in margins), margins  # sent after 01:00


def test_a_clean_night_and_a_night_with_transient_faults_send_every_documented_metric(
        tmp_path, standin_pki, airflow_db, statsd):
    documented = documented_metrics()
    clean = _night(tmp_path / "clean", standin_pki, statsd)
    faulty = _night(tmp_path / "faulty", standin_pki, statsd, inject_503=24)

    _check_night(clean, transient=0)
    _check_night(faulty, transient=24)
    assert _total(clean.by_name, f"spor.breaker_openings.{ENV}") == 0
    assert _total(faulty.by_name, f"spor.breaker_openings.{ENV}") >= 1

    # Every documented metric arrived, with its documented type and the environment in its name;
    # nothing under spor. that the docs do not list.
    samples = clean.samples + faulty.samples
    seen: dict[str, set[str]] = defaultdict(set)
    for s in samples:
        seen[metrics.pattern_of(s.name) or s.name].add(s.kind)
    assert dict(seen) == {pattern: {STATSD_TYPE[kind]} for pattern, kind in documented.items()}
    assert all(f".{ENV}" in s.name for s in samples)

    # No identity number in a line of ours, no treatment number in its name.
    assert not [s.line for s in samples if PERSON_ID_PATTERN.search(s.line)]
    numbers = {r["behandlingsnummer"] for r in clean.index + faulty.index if r.get("behandlingsnummer")}
    assert len(numbers) > 100
    assert not [s.name for s in samples if any(bn in s.name for bn in numbers)]
