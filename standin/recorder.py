"""The folder the stand-in writes every received request into, and what it remembers across restarts.

One file per request, named ``<sequence>-<behandlingsnummer>-<received UTC>.xml`` (no personal data
in names: the behandlingsnummer is a treatment number), plus ``index.jsonl`` with one JSON line
per request: sequence, file, behandlingsnummer, systemId, receive time on the injectable clock
(``spor.clock.clock_from_env``) and the real time, the outcome and the HTTP status.
Restarting the stand-in on the same folder keeps its sequence and which registrations it holds,
so a second night answers ``Uppdaterade``.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

INDEX = "index.jsonl"
_SAFE = re.compile(r"[^0-9A-Za-z\-]")


@dataclass(frozen=True)
class Received:
    seq: int
    received_at: datetime      # on the injectable clock (simulated in tests and the demo)
    received_at_real: datetime  # wall clock


def read_index(directory: str | Path) -> list[dict[str, Any]]:
    """Every entry of a received folder's index, oldest first (none when nothing arrived yet)."""
    index = Path(directory) / INDEX
    if not index.exists():
        return []
    return [json.loads(line) for line in index.read_text(encoding="utf-8").splitlines() if line.strip()]


class ReceivedFolder:
    def __init__(self, directory: str | Path, clock: Any):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self._lock = threading.Lock()
        self._seq = 0
        self.held: set[tuple[str, str]] = set()  # (systemId, behandlingsnummer) SPOR holds
        self._load()

    def _load(self) -> None:
        index = self.dir / INDEX
        if not index.exists():
            return
        for line in index.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            self._seq = max(self._seq, int(entry["seq"]))
            if entry.get("outcome") in ("created", "updated") or entry.get("stored"):
                self.held.add((entry.get("system_id") or "", entry.get("behandlingsnummer") or ""))

    def receive(self) -> Received:
        with self._lock:
            self._seq += 1
            seq = self._seq
        return Received(seq, self.clock.now(), datetime.now(UTC))

    def store(self, received: Received, body: bytes, *, behandlingsnummer: str | None,
              system_id: str | None, outcome: str, http_status: int | None, stored: bool = False,
              tls_version: str | None = None) -> Path:
        nr = _SAFE.sub("_", behandlingsnummer or "unknown")[:40]
        stamp = received.received_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = self.dir / f"{received.seq:06d}-{nr}-{stamp}.xml"
        path.write_bytes(body)
        entry = {
            "seq": received.seq,
            "file": path.name,
            "behandlingsnummer": behandlingsnummer,
            "system_id": system_id,
            "received_at": received.received_at.isoformat(),
            "received_at_real": received.received_at_real.isoformat(),
            "outcome": outcome,
            "http_status": http_status,
            "stored": stored,
            "tls_version": tls_version,
            "bytes": len(body),
        }
        with self._lock:
            with open(self.dir / INDEX, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry) + "\n")
        return path

    def index(self) -> list[dict[str, Any]]:
        """Every index line so far (tests read this)."""
        with self._lock:
            return read_index(self.dir)
