"""The stand-in SPOR stage service (issue 3, point 5): mutual TLS, WSDL/XSD, SPOR's answers,
the received-request folder, injected faults. Real HTTPS throughout."""

from __future__ import annotations

import json
import socket
import ssl
import time
from datetime import datetime

import pytest
import requests

from spor.errors import TransientError
from spor.lifecycle import State
from spor.transport.client import SporClient
from standin.faults import FaultPlan
from standin.server import start_subprocess
from standin.testing import TEST_PERSON_ID, hand_built_registration, spor_config

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"


def _session(pki, client="client"):
    s = requests.Session()
    s.trust_env = False
    s.verify = str(pki.ca_cert)
    s.cert = (str(pki.dir / f"{client}.pem"), str(pki.dir / f"{client}.key"))
    return s


def _envelope(reg) -> bytes:
    return (f'<soap:Envelope xmlns:soap="{SOAP}"><soap:Body>'.encode()
            + reg.xml_bytes.split(b"?>", 1)[1].strip() + b"</soap:Body></soap:Envelope>")


def _raw_post(server, pki, body: bytes) -> requests.Response:
    return _session(pki).post(server.url, data=body, headers={"Content-Type": "text/xml; charset=utf-8"})


# --- mutual TLS -----------------------------------------------------------------------------------
@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_r2_standin_refuses_a_client_without_certificate(standin_factory, standin_pki, tls):
    server = standin_factory(tls_max=tls)
    session = _session(standin_pki)
    session.cert = None
    with pytest.raises(requests.exceptions.ConnectionError):  # SSLError (1.2) or alert on first read (1.3)
        session.get(server.wsdl_url)
    deadline = time.monotonic() + 5
    while not server.server.handshake_failures and time.monotonic() < deadline:
        time.sleep(0.05)  # the server records it after sending its alert
    assert server.server.handshake_failures  # the server saw and refused it


def test_r2_standin_speaks_tls12_only_when_forced(standin_factory, standin_pki):
    server = standin_factory(tls_max="1.2")
    ctx = ssl.create_default_context(cafile=str(standin_pki.ca_cert))
    ctx.load_cert_chain(standin_pki.client_cert, standin_pki.client_key)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    port = server.server.server_address[1]
    with socket.create_connection(("127.0.0.1", port)) as raw, pytest.raises(ssl.SSLError):
        ctx.wrap_socket(raw, server_hostname="127.0.0.1")


# --- WSDL and XSD ---------------------------------------------------------------------------------
def test_r1_wsdl_served_at_query_wsdl_points_at_the_standin_and_its_xsd(standin, standin_pki):
    session = _session(standin_pki)
    wsdl = session.get(standin.wsdl_url)
    assert wsdl.status_code == 200 and b"postRegistration" in wsdl.content
    assert f'location="{standin.url}"'.encode() in wsdl.content
    xsd = session.get(standin.url + "?xsd=spor-registration-4_1.xsd")
    assert xsd.status_code == 200 and b"kvakod" in xsd.content
    assert session.get(standin.url + "?xsd=../../../etc/passwd").status_code == 404


def test_r1_client_can_load_the_wsdl_from_the_standin_over_mutual_tls(standin, standin_pki):
    client = SporClient(spor_config(standin, standin_pki, wsdl_location=standin.wsdl_url))
    assert client.post(hand_built_registration("W-1")).state is State.CREATED


# --- SPOR's answers --------------------------------------------------------------------------------
def test_r16_schema_violation_is_http_500_fault_in_javas_words(standin, standin_pki):
    response = _raw_post(standin, standin_pki, _envelope(hand_built_registration("2200054", kvakod="H-CAR")))
    assert response.status_code == 500
    assert "<faultcode>soap:Client</faultcode>" in response.text
    assert ("<faultstring>Unmarshalling Error: cvc-pattern-valid: Value 'H-CAR' is not facet-valid with respect "
            "to pattern '(\\w\\w\\d\\d\\d)|(\\w\\w\\w\\d\\d)' for type 'kvakod'.</faultstring>") in response.text


@pytest.mark.parametrize("change, expected", [
    ((b"<recipient>SPOR</recipient>", b"<recipient>XYZ</recipient>"),
     "cvc-enumeration-valid: Value 'XYZ' is not facet-valid with respect to enumeration '[SPOR]'."),
    ((b"<akut>false</akut>", b""),
     "cvc-complex-type.2.4.a: Invalid content was found starting with element 'preliminarOperationskod'."),
    ((b"<akut>false</akut>", b"<akut>kanske</akut>"),
     "cvc-datatype-valid.1.2.1: 'kanske' is not a valid value for 'boolean'."),
    ((b"<patient>", b"<patient><extra>1</extra>"),
     "cvc-complex-type.2.4.a: Invalid content was found starting with element 'extra'."),
])
def test_r16_other_schema_violations_use_xerces_rules(standin, standin_pki, change, expected):
    body = _envelope(hand_built_registration("2200055")).replace(*change)
    response = _raw_post(standin, standin_pki, body)
    assert response.status_code == 500 and expected in response.text


def test_r16_not_xml_at_all_is_an_unmarshalling_fault(standin, standin_pki):
    response = _raw_post(standin, standin_pki, b"<soap:Envelope")
    assert response.status_code == 500 and "Unmarshalling Error" in response.text


def test_r17_skapade_then_uppdaterade_survives_a_restart_on_the_same_folder(standin_factory, standin_pki, tmp_path):
    folder = tmp_path / "received"
    first = standin_factory(received_dir=folder)
    assert SporClient(spor_config(first, standin_pki)).post(hand_built_registration("R-1")).state is State.CREATED
    first.stop()
    second = standin_factory(received_dir=folder)
    answer = SporClient(spor_config(second, standin_pki)).post(hand_built_registration("R-1"))
    assert answer.state is State.UPDATED
    assert [e["seq"] for e in second.received.index()] == [1, 2]


def test_r17_known_system_ids_are_configurable(standin_factory, standin_pki):
    server = standin_factory(system_ids=frozenset({"SE999-ONLY"}))
    client = SporClient(spor_config(server, standin_pki))
    assert client.post(hand_built_registration("S-1", system_id="SE999-ONLY")).state is State.CREATED
    assert client.post(hand_built_registration("S-2")).state is State.REJECTED


# --- the received folder ---------------------------------------------------------------------------
def test_every_request_is_written_to_the_folder_with_an_index_on_the_simulated_clock(standin_factory, standin_pki, monkeypatch):
    monkeypatch.setenv("SPOR_CLOCK_START", "2025-03-30T01:55:00+01:00")  # simulated night, DST change
    monkeypatch.setenv("SPOR_CLOCK_SPEED", "1")
    server = standin_factory(faults=FaultPlan(script=["ok", "503"]))
    client = SporClient(spor_config(server, standin_pki))
    client.post(hand_built_registration("F-1"))
    with pytest.raises(TransientError):  # the scripted 503
        client.post(hand_built_registration("F-2"))
    client.post(hand_built_registration("F-3", kvakod="H-CAR"))
    index = server.received.index()
    assert [(e["seq"], e["behandlingsnummer"], e["outcome"], e["http_status"]) for e in index] == [
        (1, "F-1", "created", 200), (2, "F-2", "injected:503", 503), (3, "F-3", "malformed", 500)]
    files = sorted(p.name for p in server.received.dir.glob("*.xml"))
    assert [f.split("-")[0] for f in files] == ["000001", "000002", "000003"]
    assert all(TEST_PERSON_ID not in f for f in files)  # never personal data in file names
    assert TEST_PERSON_ID.encode() in (server.received.dir / index[0]["file"]).read_bytes()  # what went over the wire
    received_at = datetime.fromisoformat(index[0]["received_at"])
    assert received_at.year == 2025 and received_at.month == 3  # simulated time
    real = datetime.fromisoformat(index[0]["received_at_real"])
    assert abs((real - datetime.now(real.tzinfo)).total_seconds()) < 60  # and the real time beside it
    assert set(index[0]) >= {"received_at_real", "system_id", "tls_version", "file"}


# --- faults ----------------------------------------------------------------------------------------
def test_fault_shares_are_seeded_and_reproducible():
    a = FaultPlan(drop_share=0.1, unavailable_share=0.1, slow_share=0.05, random_failure_share=0.1, seed=7)
    b = FaultPlan(drop_share=0.1, unavailable_share=0.1, slow_share=0.05, random_failure_share=0.1, seed=7)
    seq_a, seq_b = [a.next() for _ in range(2000)], [b.next() for _ in range(2000)]
    assert seq_a == seq_b
    share_ok = seq_a.count("ok") / len(seq_a)
    assert 0.60 < share_ok < 0.70  # 35 % of requests get a fault
    assert {"drop", "503", "slow"} <= set(seq_a)


def test_fault_script_comes_first_then_shares():
    plan = FaultPlan(script=["503", "drop"])
    plan.inject("slow")
    assert [plan.next() for _ in range(4)] == ["503", "drop", "slow", "ok"]
    with pytest.raises(ValueError):
        FaultPlan(script=["boom"])


def test_random_failures_from_the_command_line_reach_the_client(standin_pki, tmp_path):
    process = start_subprocess(["--pki", str(standin_pki.dir), "--received", str(tmp_path / "r"), "--port", "0",
                                "--unavailable-share", "1.0", "--seed", "1"])
    try:
        client = SporClient(spor_config(process.url, standin_pki))
        from spor.errors import TransientError

        with pytest.raises(TransientError, match="503"):
            client.post(hand_built_registration("P-1"))
    finally:
        process.stop()
    assert process.process.returncode is not None
    lines = (tmp_path / "r" / "index.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["outcome"] == "injected:503"


# --- faults that make sending slow: reset, hang, long tail ----------------------------------------------
def test_reset_hang_and_tail_shares_are_seeded_and_reproducible():
    kw = dict(reset_share=0.05, hang_share=0.02, tail_share=0.2, unavailable_share=0.05, seed=11)
    a, b = FaultPlan(**kw), FaultPlan(**kw)
    seq = [a.next() for _ in range(2000)]
    assert seq == [b.next() for _ in range(2000)]
    assert [a.tail_delay() for _ in range(50)] == [b.tail_delay() for _ in range(50)]
    counts = {f: seq.count(f) for f in ("reset", "hang", "tail", "503")}
    assert 60 <= counts["reset"] <= 140 and 20 <= counts["hang"] <= 70 and 300 <= counts["tail"] <= 500
    assert seq != [FaultPlan(**{**kw, "seed": 12}).next() for _ in range(2000)]


def test_tail_latency_is_long_tailed_and_capped():
    plan = FaultPlan(tail_share=1.0, tail_scale_s=0.05, tail_alpha=1.5, tail_max_s=3.0, seed=3)
    delays = sorted(plan.tail_delay() for _ in range(5000))
    median, p99 = delays[len(delays) // 2], delays[int(0.99 * len(delays))]
    assert 0.05 <= median < 0.1 and p99 > 10 * median and max(delays) <= 3.0


def test_shares_adding_up_to_more_than_one_are_refused():
    with pytest.raises(ValueError, match="at most 1"):
        FaultPlan(reset_share=0.6, hang_share=0.6)


def test_reset_hang_and_tail_from_the_command_line(standin_pki, tmp_path):
    """Each fault at a rate and seed from the CLI: a reset stores nothing, a hang answers nothing
    within the client's read timeout and stores nothing, a tail answer arrives late and is stored."""
    from spor.errors import TransientError

    for flag, outcome in (("--reset-share", "injected:reset"), ("--hang-share", "injected:hang"),
                          ("--tail-share", "injected:tail:created")):
        folder = tmp_path / flag.strip("-")
        process = start_subprocess(["--pki", str(standin_pki.dir), "--received", str(folder), "--port", "0",
                                    flag, "1.0", "--seed", "5", "--hang-s", "30", "--tail-scale-s", "0.2"])
        try:
            client = SporClient(spor_config(process.url, standin_pki, read_timeout=1.0))
            started = time.monotonic()
            if outcome == "injected:tail:created":
                assert client.post(hand_built_registration("P-2")).state.value == "created"
            else:
                with pytest.raises(TransientError):
                    client.post(hand_built_registration("P-2"))
            elapsed = time.monotonic() - started
            if flag == "--reset-share":
                started = time.monotonic()
                with pytest.raises(TransientError):
                    client.post(hand_built_registration("P-3"))
                again = time.monotonic() - started
        finally:
            process.stop()
        entry = json.loads((folder / "index.jsonl").read_text().splitlines()[0])
        assert entry["outcome"] == outcome
        assert entry["stored"] is (outcome == "injected:tail:created")
        if flag == "--hang-share":
            assert 1.0 <= elapsed < 5, "a hang costs the client its read timeout, no more"
        if flag == "--reset-share":
            assert again < 0.5, "a second reset soon after is not probed again (failures.PROBE_MEMORY_S)"
