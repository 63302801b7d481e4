"""pytest fixtures and helpers for tests that talk to the stand-in over real TLS.

The repository's tests/conftest.py registers this module as a pytest plugin, so every test asks for
the fixtures by name; the helpers are imported as usual::

    from standin.testing import hand_built_registration, spor_config

- ``standin_pki``      (session) the test PKI, made once per test session
- ``standin``          a stand-in running in a thread (defaults), stopped after the test
- ``standin_factory``  ``standin_factory(latency_ms=50, tls_max="1.2", faults=FaultPlan(...), system_ids=...)``
- ``spor_config(server, pki, form="pem"|"pkcs12"|"pem_content"|"encrypted_pem", client="client", **overrides)``
  a ``SporConnectionConfig`` pointing at the running stand-in
- ``hand_built_registration(nr, ...)`` a registration element built by hand (e.g. with 'H-CAR',
  which the message builder refuses), with ``.behandlingsnummer``, ``.element``, ``.xml_bytes``
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from standin.make_pki import Pki, make_pki
from standin.server import DEFAULT_SYSTEM_IDS, RunningStandin, StandinConfig, run_in_thread

#: A SystemId the stand-in knows by default.
KNOWN_SYSTEM_ID = sorted(DEFAULT_SYSTEM_IDS)[0]
#: A synthetic test identity (valid shape and check digit; the Tax Agency's test number series).
TEST_PERSON_ID = "191212121212"


@pytest.fixture(scope="session")
def standin_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("standin-pki"))


@pytest.fixture
def standin_factory(standin_pki: Pki, tmp_path: Path) -> Iterator[Callable[..., RunningStandin]]:
    started: list[RunningStandin] = []

    def start(**kwargs: Any) -> RunningStandin:
        kwargs.setdefault("received_dir", tmp_path / f"received-{len(started)}")
        server = run_in_thread(StandinConfig(pki_dir=standin_pki.dir, **kwargs))
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def standin(standin_factory: Callable[..., RunningStandin]) -> RunningStandin:
    return standin_factory()


def spor_config(server: RunningStandin | str, pki: Pki, *, form: str = "pem", client: str = "client",
                environment: str = "stage", **overrides: Any):
    """A connection config for the stand-in with the chosen certificate form and client certificate."""
    from spor.transport.connection import SporConnectionConfig

    url = server if isinstance(server, str) else server.url
    cert, key = pki.dir / f"{client}.pem", pki.dir / f"{client}.key"
    if form == "pem":
        cert_fields = dict(cert_file=str(cert), key_file=str(key))
    elif form == "encrypted_pem":
        cert_fields = dict(cert_file=str(cert), key_file=str(pki.client_key_encrypted), key_password=pki.password)
    elif form == "pem_content":
        cert_fields = dict(cert_pem=cert.read_text(), key_pem=key.read_text())
    elif form == "pkcs12":
        cert_fields = dict(pkcs12_file=str(pki.client_p12), key_password=pki.password)
    else:
        raise ValueError(f"unknown certificate form {form!r}")
    values = dict(endpoint=url, environment=environment, ca_bundle=str(pki.ca_cert), **cert_fields)
    values.update(overrides)
    return SporConnectionConfig(**values)


@dataclass(frozen=True)
class HandBuilt:
    behandlingsnummer: str
    element: Any
    xml_bytes: bytes


def hand_built_registration(behandlingsnummer: str, *, system_id: str = KNOWN_SYSTEM_ID,
                            kvakod: str = "ABC12", person_id: str = TEST_PERSON_ID,
                            namespace: str | None = None) -> HandBuilt:
    """A minimal request-only registration (R7) built by hand, bypassing the builder's checks."""
    from lxml import etree

    if namespace is None:
        from spor.registration.schema_files import load_schema

        namespace = load_schema().namespace

    def el(parent: Any, name: str, text: str | None = None) -> Any:
        child = etree.SubElement(parent, f"{{{namespace}}}{name}")
        child.text = text
        return child

    root = etree.Element(f"{{{namespace}}}postRegistrationRequest", nsmap={None: namespace})
    el(el(root, "recipientMessageSplit"), "recipient", "SPOR")
    el(root, "systemId", system_id)
    reg = el(root, "registrering")
    el(reg, "behandlingsnummer", behandlingsnummer)
    el(el(reg, "patient"), "personId", person_id)
    anmalan = el(reg, "anmalan")
    el(anmalan, "tidpunktOpAnmalan", "2024-03-01T08:15:00+01:00")
    el(anmalan, "akut", "false")
    el(anmalan, "preliminarOperationskod", kvakod)
    return HandBuilt(behandlingsnummer, root, etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
