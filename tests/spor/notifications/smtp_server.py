"""A real SMTP server for the e-mail tests: it listens on a free local port, takes every message
and keeps (recipients, raw data). ``smtp_server`` also defines the Airflow connection
``spor_smtp_test`` pointing at it (plain SMTP, sender spor@sjukhus.example, no retries)."""

from __future__ import annotations

import json
import socketserver
import threading

import pytest


class _Smtp(socketserver.StreamRequestHandler):
    """A minimal SMTP server (RFC 5321 subset: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT)."""

    def handle(self) -> None:
        self.wfile.write(b"220 test ESMTP\r\n")
        rcpt: list[str] = []
        while True:
            line = self.rfile.readline()
            if not line:
                return
            verb = line.decode().strip().split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self.wfile.write(b"250-test\r\n250 8BITMIME\r\n")
            elif verb == "RCPT":
                rcpt.append(line.decode().split(":", 1)[1].strip().strip("<>"))
                self.wfile.write(b"250 ok\r\n")
            elif verb == "DATA":
                self.wfile.write(b"354 go\r\n")
                data = []
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data.append(chunk)
                self.server.messages.append((list(rcpt), b"".join(data)))  # type: ignore[attr-defined]  # set on the server below
                self.wfile.write(b"250 queued\r\n")
            elif verb == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:  # MAIL, RSET, NOOP
                self.wfile.write(b"250 ok\r\n")


@pytest.fixture
def smtp_server(monkeypatch):
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp)
    server.daemon_threads = True
    server.messages = []  # type: ignore[attr-defined]  # the handler appends here
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AIRFLOW_CONN_SPOR_SMTP_TEST", json.dumps({
        "conn_type": "smtp", "host": "127.0.0.1", "port": server.server_address[1],
        "extra": {"disable_tls": True, "disable_ssl": True, "from_email": "spor@sjukhus.example",
                  "retry_limit": 0, "timeout": 5}}))
    yield server
    server.shutdown()
    server.server_close()
