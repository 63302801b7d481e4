"""The SPOR client against the stand-in over real mutual TLS (R1, R2, R16, R17).

Nothing is mocked: a real HTTPS server with the test PKI, real zeep, real requests/urllib3.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest

from spor.errors import RunStoppingError, TransientError
from spor.lifecycle import State
from spor.transport.client import SporClient, get_client
from standin.faults import FaultPlan
from standin.testing import TEST_PERSON_ID, hand_built_registration, spor_config


# --- accepted client, every certificate form ---------------------------------------------------------
@pytest.mark.parametrize("form", ["pem", "pkcs12", "pem_content", "encrypted_pem"])
def test_r2_r17_accepted_client_gets_skapade_then_uppdaterade(standin, standin_pki, form):
    client = SporClient(spor_config(standin, standin_pki, form=form))
    first = client.post(hand_built_registration("2200054"))
    second = client.post(hand_built_registration("2200054"))
    assert (first.state, first.result_code, first.result_text) == (State.CREATED, "OK", "Skapade: 2200054")
    assert (second.state, second.result_text) == (State.UPDATED, "Uppdaterade: 2200054")
    assert first.http_status == 200 and first.elapsed_s > 0
    outcomes = [e["outcome"] for e in standin.received.index()]
    assert outcomes == ["created", "updated"]


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_r2_accepted_at_both_tls_versions(standin_factory, standin_pki, tls):
    server = standin_factory(tls_max=tls)
    answer = SporClient(spor_config(server, standin_pki)).post(hand_built_registration("A-1"))
    assert answer.state is State.CREATED
    assert server.received.index()[0]["tls_version"] == f"TLSv{tls}"


def test_r1_element_is_posted_unchanged(standin, standin_pki):
    reg = hand_built_registration("2200055")
    SporClient(spor_config(standin, standin_pki)).post(reg)
    wire = (standin.received.dir / standin.received.index()[0]["file"]).read_bytes()
    element_bytes = reg.xml_bytes.split(b"?>", 1)[1].strip()
    assert element_bytes in wire  # the very bytes built, inside the SOAP body


# --- transient faults ---------------------------------------------------------------------------------
@pytest.mark.parametrize("fault", ["503", "502", "504", "drop"])
def test_transient_faults_raise_transient_error(standin_factory, standin_pki, fault):
    server = standin_factory(faults=FaultPlan(script=[fault]))
    client = SporClient(spor_config(server, standin_pki))
    with pytest.raises(TransientError) as caught:
        client.post(hand_built_registration("2200062"))
    assert not isinstance(caught.value, RunStoppingError)
    assert client.post(hand_built_registration("2200062")).state is State.CREATED  # the next try works


def test_slow_answer_beyond_read_timeout_is_transient_and_was_stored(standin_factory, standin_pki):
    server = standin_factory(faults=FaultPlan(script=["slow"], slow_s=1.5))
    client = SporClient(spor_config(server, standin_pki, read_timeout=0.5))
    with pytest.raises(TransientError, match="no answer"):
        client.post(hand_built_registration("2200063"))
    assert server.received.index()[0]["stored"] is True  # SPOR may store it anyway: resend is safe
    assert client.post(hand_built_registration("2200063")).state is State.UPDATED


def test_connection_refused_is_transient(standin_pki):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = SporClient(spor_config(f"https://127.0.0.1:{port}/spor/ws/4_1/RegistrationService", standin_pki))
    with pytest.raises(TransientError, match="refused"):
        client.post(hand_built_registration("2200064"))


# --- session hygiene ---------------------------------------------------------------------------------
@pytest.mark.parametrize("form", ["pkcs12", "pem_content"])
def test_r2_key_material_temp_files_are_removed(standin, standin_pki, tmp_path, form):
    temp = tmp_path / "tmp"
    temp.mkdir()
    client = SporClient(spor_config(standin, standin_pki, form=form), temp_dir=str(temp))
    assert list(temp.iterdir()) == []  # written, loaded into the SSLContext, removed
    assert client.post(hand_built_registration("2200065")).state is State.CREATED


def test_no_envelope_or_person_id_in_logs(standin_factory, standin_pki, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="zeep.transports")  # even if someone turns it up
    server = standin_factory(faults=FaultPlan(script=["ok", "503"]))
    client = SporClient(spor_config(server, standin_pki))
    client.post(hand_built_registration("2200066"))
    with pytest.raises(TransientError):
        client.post(hand_built_registration("2200066"))
    client.post(hand_built_registration("2200067", kvakod="H-CAR"))
    client.post(hand_built_registration("2200068", system_id="SE13-137"))
    assert "2200066" in caplog.text  # logging did happen (treatment numbers may appear)
    assert TEST_PERSON_ID not in caplog.text
    assert "Envelope" not in caplog.text and "personId" not in caplog.text


def test_r2_environment_proxy_and_ca_variables_are_ignored(standin, standin_pki, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(standin_pki.other_ca_cert))
    client = SporClient(spor_config(standin, standin_pki))
    assert client.post(hand_built_registration("2200069")).state is State.CREATED


def test_r2_explicit_proxy_is_used(standin, standin_pki):
    proxy = _ConnectProxy()
    try:
        client = SporClient(spor_config(standin, standin_pki, proxy=proxy.url))
        assert client.post(hand_built_registration("2200070")).state is State.CREATED
        assert proxy.tunnels == [f"127.0.0.1:{standin.server.server_address[1]}"]
    finally:
        proxy.stop()


def test_one_client_per_process_and_config_shared_by_threads(standin, standin_pki):
    config = spor_config(standin, standin_pki)
    client = get_client(config, pool_size=4)
    assert get_client(config, pool_size=4) is client
    answers: list = []

    def send(i: int) -> None:
        for j in range(5):
            answers.append(client.post(hand_built_registration(f"T{i}-{j}")))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a.result_text for a in answers) == sorted(f"Skapade: T{i}-{j}" for i in range(4) for j in range(5))
    client.close()


def test_r2_hook_from_airflow_conn_env_sends_with_the_process_client(standin, standin_pki, monkeypatch):
    import json

    monkeypatch.setenv("AIRFLOW_CONN_SPOR_HOOKTEST", json.dumps({
        "conn_type": "spor", "host": standin.url, "password": standin_pki.password,
        "extra": {"environment": "stage", "pkcs12_file": str(standin_pki.client_p12),
                  "ca_bundle": str(standin_pki.ca_cert), "pool_size": 2}}))
    from spor.hooks.spor import SporHook

    client = SporHook(spor_conn_id="spor_hooktest").get_client()
    assert SporHook(spor_conn_id="spor_hooktest").get_client() is client  # one per process
    assert client.pool_size == 2
    assert client.post(hand_built_registration("H-1")).state is State.CREATED


class _ConnectProxy:
    """A minimal HTTP CONNECT proxy (a hospital's outbound proxy), counting tunnels."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.tunnels: list[str] = []
        self._stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._tunnel, args=(conn,), daemon=True).start()

    def _tunnel(self, conn: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            head += conn.recv(4096)
        target = head.split(b" ", 2)[1].decode()
        self.tunnels.append(target)
        host, port = target.rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)))
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")

        def pipe(a: socket.socket, b: socket.socket) -> None:
            try:
                while data := a.recv(65536):
                    b.sendall(data)
            except OSError:
                pass
            finally:
                for s in (a, b):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pipe, args=(upstream, conn), daemon=True).start()
        pipe(conn, upstream)

    def stop(self) -> None:
        self._stop = True
        time.sleep(0.3)
        self.sock.close()
