"""Stand-in for SPOR's stage RegistrationService: a real HTTPS server with mutual TLS.

    python -m standin --pki .demo/pki --received .demo/received --port 8443 --latency-ms 50

Requires a client certificate from the test CA (TLS 1.2 and 1.3; ``--tls-max 1.2`` forces 1.2),
serves the project's WSDL at ``?wsdl`` and its XSD at ``?xsd=<file>``, validates every request
against the XSD (HTTP 500 + SOAP Fault like SPOR's Java stack), answers ``ERROR`` for an unknown
SystemId, ``Skapade`` the first time a behandlingsnummer arrives and ``Uppdaterade`` after that
(or, with ``--ok-text`` / ``ok_text``, any other OK text: ``{nr}`` in it is the behandlingsnummer),
and writes every request into the received folder (see recorder.py). Latency and faults are
configurable (faults.py). Test material only: it trusts nothing but the test CA.
"""

from __future__ import annotations

import argparse
import logging
import os
import select
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from standin import soap
from standin.faults import FaultPlan
from standin.recorder import ReceivedFolder

log = logging.getLogger("standin")

SERVICE_PATH = "/spor/ws/4_1/RegistrationService"
#: SystemIds the stand-in knows. The demo's units map to these; anything else gets ERROR (R17).
DEFAULT_SYSTEM_IDS = frozenset({"SE2321000016-OP01", "SE2321000016-OP02", "SE2321000016-OP03"})
_TLS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


@dataclass
class StandinConfig:
    pki_dir: Path
    received_dir: Path
    host: str = "127.0.0.1"
    port: int = 0                       # 0: any free port (see .url)
    latency_ms: float = 0.0             # every answer waits this long (SPOR is ~50 ms away)
    tls_min: str = "1.2"
    tls_max: str | None = None          # "1.2" forces TLS 1.2; None: up to 1.3
    system_ids: frozenset[str] = DEFAULT_SYSTEM_IDS
    faults: FaultPlan = field(default_factory=FaultPlan)
    schema_location: str | None = None  # default: spor.registration.schema_files's shipped WSDL/XSD
    path: str = SERVICE_PATH
    #: resultText of every OK answer instead of the guide's "Skapade: N" / "Uppdaterade: N";
    #: "{nr}" is replaced by the behandlingsnummer received (e.g. "Uppdaterade: {nr}.", "OK").
    ok_text: str | None = None


def server_ssl_context(pki_dir: Path, tls_min: str = "1.2", tls_max: str | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki_dir / "server.pem", pki_dir / "server.key")
    ctx.load_verify_locations(pki_dir / "ca.pem")
    ctx.verify_mode = ssl.CERT_REQUIRED  # mutual TLS: no client certificate from the test CA, no service
    ctx.minimum_version = _TLS[tls_min]
    if tls_max:
        ctx.maximum_version = _TLS[tls_max]
    return ctx


class StandinServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    handshake_timeout_s = 10.0

    def __init__(self, config: StandinConfig):
        from spor.clock import clock_from_env
        from spor.registration.schema_files import REQUEST_ELEMENT, load_schema

        self.config = config
        self.ssl_context = server_ssl_context(Path(config.pki_dir), config.tls_min, config.tls_max)
        self.schema = load_schema(config.schema_location)
        from lxml import etree

        self.types = soap.SchemaTypes(etree.parse(str(self.schema.xsd_path)).getroot())
        self.request_tag = self.schema.element_name(REQUEST_ELEMENT)
        self.received = ReceivedFolder(config.received_dir, clock_from_env())
        self.faults = config.faults
        self.ok_text = config.ok_text  # changeable while running (RunningStandin.answer_ok_with)
        self.handshake_failures: list[str] = []
        self._held_lock = threading.Lock()
        super().__init__((config.host, config.port), Handler)

    @property
    def url(self) -> str:
        host = self.config.host
        host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        return f"https://{host}:{self.server_address[1]}{self.config.path}"

    def get_request(self):
        sock, addr = super().get_request()
        # Without TCP_NODELAY every answer waits ~40 ms for a delayed ACK (engineering note 29).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, addr

    def finish_request(self, request, client_address) -> None:
        # The TLS handshake runs in the connection's own thread, so a slow client blocks no one.
        request.settimeout(self.handshake_timeout_s)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            self.handshake_failures.append(getattr(exc, "reason", None) or type(exc).__name__)
            log.info("TLS handshake refused: %s", getattr(exc, "reason", None) or exc)
            request.close()
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address) -> None:
        log.debug("connection from %s ended with an error", client_address, exc_info=True)

    def answer(self, parsed: soap.ParsedRequest) -> tuple[int, bytes, str, bool]:
        """(HTTP status, body, outcome, stored) for a request that reached the service."""
        if parsed.fault is not None:
            return 500, soap.fault_envelope(parsed.fault), "malformed", False
        nr, system_id = parsed.behandlingsnummer or "", parsed.system_id or ""
        if system_id not in self.config.system_ids:
            return 200, soap.answer_envelope(self.schema.namespace, "ERROR",
                                             soap.unknown_system_text(nr, system_id)), "rejected", False
        with self._held_lock:
            known = (system_id, nr) in self.received.held
            self.received.held.add((system_id, nr))
        if self.ok_text is not None:
            text = self.ok_text.replace("{nr}", nr)
        else:
            text = soap.updated_text(nr) if known else soap.created_text(nr)
        return 200, soap.answer_envelope(self.schema.namespace, "OK", text), "updated" if known else "created", True

    def wsdl_bytes(self) -> bytes:
        """The WSDL with its address and schema locations pointing at this server."""
        from lxml import etree

        doc = etree.parse(str(self.schema.wsdl_path))
        for el in doc.iter():
            if not isinstance(el.tag, str):
                continue
            if etree.QName(el).localname == "address" and el.get("location"):
                el.set("location", self.url)
            if etree.QName(el).localname in ("import", "include") and el.get("schemaLocation"):
                el.set("schemaLocation", f"{self.url}?xsd={Path(el.get('schemaLocation')).name}")
        return etree.tostring(doc, xml_declaration=True, encoding="UTF-8")

    def xsd_file(self, name: str) -> Path | None:
        folder = self.schema.xsd_path.parent
        candidate = folder / Path(name).name  # basename only: nothing outside the schema folder
        return candidate if candidate.suffix == ".xsd" and candidate.is_file() else None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server_version = "SPOR-standin/1.0"
    timeout = 120  # idle keep-alive connections are closed after this
    server: StandinServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes, content_type: str = "text/xml; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = unquote(parts.query)
        if parts.path != self.server.config.path:
            self._send(404, b"not found", "text/plain")
        elif query.lower() == "wsdl":
            self._send(200, self.server.wsdl_bytes())
        elif query.lower().startswith("xsd=") and (xsd := self.server.xsd_file(query[4:])):
            self._send(200, xsd.read_bytes())
        else:
            self._send(404, b"not found", "text/plain")

    def do_POST(self) -> None:
        server = self.server
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        # SPOR answers `latency_ms` after it received the request; our own parsing and recording
        # happen inside that time, so they do not add to it.
        answer_at = time.monotonic() + server.config.latency_ms / 1000
        received = server.received.receive()
        if urlsplit(self.path).path != server.config.path:
            self._send(404, b"not found", "text/plain")
            return
        fault = server.faults.next()
        parsed = soap.parse_request(body, server.schema.xsd, server.types, self.request_tag)
        record = dict(behandlingsnummer=parsed.behandlingsnummer, system_id=parsed.system_id,
                      tls_version=self.connection.version())
        if fault == "drop":
            _sleep_until(answer_at)
            server.received.store(received, body, outcome="injected:drop", http_status=None, **record)
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)  # no answer, no TLS close_notify
            except OSError:
                pass
            return
        if fault == "reset":
            server.received.store(received, body, outcome="injected:reset", http_status=None, **record)
            _sleep_until(answer_at)
            self.close_connection = True
            _reset(self.connection)
            return
        if fault == "hang":
            server.received.store(received, body, outcome="injected:hang", http_status=None, **record)
            self.close_connection = True
            _hang(self.connection, server.faults.hang_s)
            return
        if fault in ("502", "503", "504"):
            server.received.store(received, body, outcome=f"injected:{fault}", http_status=int(fault), **record)
            _sleep_until(answer_at)
            self._send(int(fault), b"<html><body>Service Unavailable</body></html>", "text/html")
            return
        status, answer, outcome, stored = server.answer(parsed)
        extra = 0.0
        if fault in ("slow", "tail"):
            outcome = f"injected:{fault}:{outcome}"
            extra = server.faults.slow_s if fault == "slow" else server.faults.tail_delay()
        server.received.store(received, body, outcome=outcome, http_status=status, stored=stored, **record)
        # "slow"/"tail": stored already, answered late (a client may time out)
        _sleep_until(answer_at + extra)
        try:
            self._send(status, answer)
        except OSError:
            self.close_connection = True  # the client gave up waiting

    @property
    def request_tag(self) -> str:
        return self.server.request_tag


def _reset(conn: socket.socket) -> None:
    """Abort the connection with a TCP RST: linger 0, then close (no TLS close_notify)."""
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        socket.socket.close(conn)
    except OSError:
        pass


def _hang(conn: socket.socket, seconds: float) -> None:
    """Say nothing for ``seconds``, or until the client gives up and closes its end."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            readable, _, _ = select.select([conn], [], [], min(left, 0.5))
            if readable and not conn.recv(1):
                return
        except (OSError, ValueError, ssl.SSLError):
            return


def _sleep_until(deadline: float) -> None:
    delay = deadline - time.monotonic()
    if delay > 0:
        time.sleep(delay)


# --- start/stop helpers for tests, the demo and the benchmark ---------------------------------
@dataclass
class RunningStandin:
    server: StandinServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def wsdl_url(self) -> str:
        return self.server.url + "?wsdl"

    @property
    def received(self) -> ReceivedFolder:
        return self.server.received

    def inject(self, fault: str, count: int = 1) -> None:
        self.server.faults.inject(fault, count)

    def answer_ok_with(self, text: str | None) -> None:
        """From now on answer OK with ``text`` ("{nr}": the behandlingsnummer); None: the guide's texts."""
        self.server.ok_text = text

    def know_system_ids(self, system_ids: Iterable[str]) -> None:
        """From now on the SystemIds UCR has registered are these; any other is answered
        ``ERROR … Systemet X som angivits i SystemId hittas inte``."""
        self.server.config.system_ids = frozenset(system_ids)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    def __enter__(self) -> RunningStandin:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def run_in_thread(config: StandinConfig | None = None, **kwargs: Any) -> RunningStandin:
    """Start the stand-in in this process (``run_in_thread(pki_dir=..., received_dir=...)``)."""
    config = config or StandinConfig(**kwargs)
    server = StandinServer(config)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name="standin", daemon=True)
    thread.start()
    return RunningStandin(server, thread)


@dataclass
class StandinProcess:
    process: subprocess.Popen
    url: str

    @property
    def wsdl_url(self) -> str:
        return self.url + "?wsdl"

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, timeout: float = 10) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> StandinProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def start_subprocess(args: list[str], *, python: str = sys.executable, env: dict[str, str] | None = None,
                     timeout: float = 30) -> StandinProcess:
    """Start ``python -m standin ARGS`` (add ``--port 0`` for any free port); wait until it listens."""
    root = Path(__file__).resolve().parents[1]
    process = subprocess.Popen([python, "-m", "standin", *args, "--announce"], cwd=root,
                               stdout=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + timeout
    line = ""
    while time.monotonic() < deadline:
        line = process.stdout.readline() if process.stdout else ""
        if line.startswith("LISTENING "):
            return StandinProcess(process, line.split(" ", 1)[1].strip())
        if not line and process.poll() is not None:
            break
    process.kill()
    raise RuntimeError(f"stand-in did not start (exit code {process.poll()})")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m standin", description="Stand-in for SPOR's stage RegistrationService.")
    p.add_argument("--pki", required=True, type=Path, help="test PKI folder (made by standin/make_pki.py if empty)")
    p.add_argument("--received", required=True, type=Path, help="folder for every received request")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8443)
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--tls-min", choices=sorted(_TLS), default="1.2")
    p.add_argument("--tls-max", choices=sorted(_TLS), default=None)
    p.add_argument("--system-ids", default=os.environ.get("STANDIN_SYSTEM_IDS", ",".join(sorted(DEFAULT_SYSTEM_IDS))),
                   help="comma-separated SystemIds SPOR knows (others get ERROR)")
    p.add_argument("--ok-text", default=None,
                   help="resultText of OK answers, '{nr}' for the behandlingsnummer (default: 'Skapade: N' / 'Uppdaterade: N')")
    p.add_argument("--schema", default=None, help="WSDL/XSD location (default: the project's shipped files)")
    p.add_argument("--drop-share", type=float, default=0.0)
    p.add_argument("--unavailable-share", type=float, default=0.0)
    p.add_argument("--slow-share", type=float, default=0.0)
    p.add_argument("--random-failure-share", type=float, default=0.0)
    p.add_argument("--reset-share", type=float, default=0.0, help="share answered by a TCP reset (nothing stored)")
    p.add_argument("--hang-share", type=float, default=0.0, help="share left unanswered for --hang-s (nothing stored)")
    p.add_argument("--tail-share", type=float, default=0.0, help="share answered after a long-tailed (Pareto) delay")
    p.add_argument("--slow-s", type=float, default=5.0)
    p.add_argument("--hang-s", type=float, default=120.0)
    p.add_argument("--tail-scale-s", type=float, default=0.05)
    p.add_argument("--tail-alpha", type=float, default=1.5)
    p.add_argument("--tail-max-s", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fault-script", default="", help="faults for the first requests, e.g. 503,drop,ok,slow")
    p.add_argument("--announce", action="store_true", help="print 'LISTENING <url>' once ready")
    return p.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> StandinConfig:
    from standin.make_pki import make_pki

    make_pki(args.pki)  # no-op when the PKI is already there
    faults = FaultPlan(drop_share=args.drop_share, unavailable_share=args.unavailable_share,
                       slow_share=args.slow_share, random_failure_share=args.random_failure_share,
                       reset_share=args.reset_share, hang_share=args.hang_share, tail_share=args.tail_share,
                       slow_s=args.slow_s, hang_s=args.hang_s, tail_scale_s=args.tail_scale_s,
                       tail_alpha=args.tail_alpha, tail_max_s=args.tail_max_s, seed=args.seed,
                       script=[f for f in args.fault_script.split(",") if f])
    return StandinConfig(pki_dir=args.pki, received_dir=args.received, host=args.host, port=args.port,
                         latency_ms=args.latency_ms, tls_min=args.tls_min, tls_max=args.tls_max,
                         system_ids=frozenset(s.strip() for s in args.system_ids.split(",") if s.strip()),
                         faults=faults, schema_location=args.schema, ok_text=args.ok_text)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s standin %(message)s")
    args = parse_args(argv)
    server = StandinServer(config_from_args(args))
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    print(f"LISTENING {server.url}" if args.announce else f"stand-in SPOR listening on {server.url} (WSDL: {server.url}?wsdl)",
          flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
