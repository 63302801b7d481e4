"""What the metrics tests share: the metrics docs/metrics.md lists, a stand-in for Airflow's
metrics object that keeps each call, and a StatsD server that listens on a UDP port of this
machine and keeps every line it receives."""

from __future__ import annotations

import re
import socket
import threading
import time
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Sample:
    name: str      # without Airflow's statsd_prefix
    value: float
    kind: str      # c, g, ms
    line: str      # as received


class StatsdListener:
    """A StatsD server for one test, on 127.0.0.1 and a free port: keeps every line it receives."""

    def __init__(self, prefix: str = "airflow") -> None:
        self.prefix = prefix
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="statsd-listener", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            with self._lock:
                self.lines.extend(line for line in data.decode("utf-8", "replace").splitlines() if line)

    def airflow_env(self) -> dict[str, str]:
        """Airflow's configuration that points its StatsD metrics here."""
        return {"AIRFLOW__METRICS__STATSD_ON": "True", "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
                "AIRFLOW__METRICS__STATSD_PORT": str(self.port), "AIRFLOW__METRICS__STATSD_PREFIX": self.prefix}

    def take(self, settle_s: float = 0.5) -> list[str]:
        """Every line received so far (after a moment for the last datagrams), and forget them."""
        time.sleep(settle_s)
        with self._lock:
            lines, self.lines = self.lines, []
        return lines

    def samples(self, lines: list[str]) -> list[Sample]:
        """The lines under ``<prefix>.spor.``, parsed (``name:value|type``, a sample rate ignored)."""
        out = []
        for line in lines:
            name, _, rest = line.partition(":")
            if not name.startswith(f"{self.prefix}.spor."):
                continue
            value, kind = rest.split("|")[:2]
            out.append(Sample(name.removeprefix(f"{self.prefix}."), float(value), kind, line))
        return out

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()
