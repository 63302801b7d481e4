"""What the metrics tests share: the metrics docs/metrics.md lists, and a stand-in for Airflow's
metrics object that keeps each call."""

from __future__ import annotations

import re
import threading

from tests.conftest import ROOT

METRICS_DOC = ROOT / "docs" / "metrics.md"
#: A row of the table in docs/metrics.md: | type | `name` | meaning | emitted |
_ROW = re.compile(r"^\|\s*(counter|gauge|timer)\s*\|\s*`(spor\.[^`]+)`\s*\|")
#: StatsD's types by the docs' words.
STATSD_TYPE = {"counter": "c", "gauge": "g", "timer": "ms"}


def documented_metrics() -> dict[str, str]:
    """name pattern -> type (counter, gauge, timer), as docs/metrics.md lists them."""
    found: dict[str, str] = {}
    for line in METRICS_DOC.read_text(encoding="utf-8").splitlines():
        m = _ROW.match(line)
        if m:
            assert m.group(2) not in found, f"docs/metrics.md lists {m.group(2)} twice"
            found[m.group(2)] = m.group(1)
    return found


class Recorder:
    """Stands in for Airflow's metrics object (spor.compat.airflow_stats): keeps each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, object, dict | None]] = []
        self._lock = threading.Lock()  # the send threads time their answers side by side

    def _keep(self, *call) -> None:
        with self._lock:
            self.calls.append(call)

    def incr(self, stat, count=1, rate=1, *, tags=None):
        self._keep("incr", stat, count, tags)

    def gauge(self, stat, value, rate=1, delta=False, *, tags=None):
        self._keep("gauge", stat, value, tags)

    def timing(self, stat, dt, *, tags=None):
        self._keep("timing", stat, dt, tags)

    def values(self, stat: str) -> list[object]:
        """What was sent under one name, in order."""
        return [value for _, name, value, _ in self.calls if name == stat]


def record_metrics(monkeypatch) -> Recorder:
    """Sends this test's metrics to a Recorder instead of Airflow's metrics object."""
    from spor import compat

    recorder = Recorder()
    monkeypatch.setattr(compat, "airflow_stats", lambda: recorder)
    return recorder
