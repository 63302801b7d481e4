"""The shipped WSDL/XSD: strict enough to reject the known-bad messages, loadable from elsewhere."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from lxml import etree

from spor.errors import ConfigurationError
from spor.registration.schema_files import SHIPPED_DIR, SHIPPED_WSDL, load_schema

VARIANT_DIR = Path(__file__).resolve().parents[2] / "data" / "spor_schema_variant"
SHIPPED_XSD = SHIPPED_DIR / "spor-registration-4_1.xsd"
NS = "urn:se:ucr:spor:registration:4_1"

GOOD = """<postRegistrationRequest xmlns="{ns}">
  <recipientMessageSplit><recipient>SPOR</recipient></recipientMessageSplit>
  <systemId>SE13-137</systemId>
  <registrering>
    <behandlingsnummer>2200054</behandlingsnummer>
    <patient><personId>197010632391</personId></patient>
    <anmalan>
      <tidpunktOpAnmalan>2022-04-13T13:54:22+02:00</tidpunktOpAnmalan>
      <akut>false</akut>
      <preliminarOperationskod>DG021</preliminarOperationskod>
    </anmalan>
    <genomforande>
      <operationStart>2022-11-02T08:10:00+01:00</operationStart>
      <operatorHsaId>SE2321000131-P000000012345</operatorHsaId>
      <operationskod>DG021</operationskod>
    </genomforande>
  </registrering>
</postRegistrationRequest>"""

HSA_64 = "SE2321000131-" + "A" * (64 - len("SE2321000131-"))

# (name, text to replace in GOOD, replacement, element the schema must name)
KNOWN_BAD = [
    ("kva_h_car", "<operationskod>DG021", "<operationskod>H-CAR", "operationskod"),
    ("personid_11_digits", "197010632391", "19701063239", "personId"),
    ("empty_element", "<akut>false</akut>", "<akut>false</akut><akutPrioritet></akutPrioritet>", "akutPrioritet"),
    ("empty_behandlingsnummer", ">2200054<", "><", "behandlingsnummer"),
    ("datetime_without_offset", "2022-11-02T08:10:00+01:00", "2022-11-02T08:10:00", "operationStart"),
    ("datetime_utc_z_is_not_an_offset_we_send", "2022-11-02T08:10:00+01:00", "2022-11-02T07:10:00Z", "operationStart"),
    ("v105_other_than_spor", "<recipient>SPOR</recipient>", "<recipient>SWEDEHEART</recipient>", "recipient"),
    ("v105_missing", "<recipient>SPOR</recipient>", "", "recipientMessageSplit"),
    ("hsaid_65_chars", "SE2321000131-P000000012345", HSA_64 + "A", "operatorHsaId"),
    ("hsaid_without_hyphen", "SE2321000131-P000000012345", "SE2321000131P", "operatorHsaId"),
    ("systemid_empty", "<systemId>SE13-137</systemId>", "<systemId></systemId>", "systemId"),
    ("elements_out_of_order", "<akut>false</akut>\n      <preliminarOperationskod>DG021</preliminarOperationskod>",
     "<preliminarOperationskod>DG021</preliminarOperationskod><akut>false</akut>", "preliminarOperationskod"),
    ("d13_storningstyp_12", "</anmalan>",
     "</anmalan><planering><strykning><storningstyp>12</storningstyp><storningsorsak>11C</storningsorsak>"
     "<avforsFranVantelistan>true</avforsFranVantelistan></strykning></planering>", "storningstyp"),
]


def _good(ns: str = NS) -> str:
    return GOOD.format(ns=ns)


def test_shipped_schema_loads_with_its_namespace() -> None:
    schema = load_schema()
    assert schema.namespace == NS
    assert schema.wsdl_path == SHIPPED_WSDL
    assert schema.xsd_path == SHIPPED_XSD
    assert load_schema(SHIPPED_DIR) is schema  # cached per location


def test_hand_written_message_is_valid_lxml_and_xmllint(tmp_path: Path, xmllint: str) -> None:
    schema = load_schema()
    assert schema.errors(etree.fromstring(_good())) == []
    msg = tmp_path / "good.xml"
    msg.write_text(_good())
    run = subprocess.run([xmllint, "--noout", "--schema", str(SHIPPED_XSD), str(msg)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_r15_hsaid_of_exactly_64_chars_is_valid() -> None:
    """R15: 64 characters is the limit, inclusive."""
    text = _good().replace("SE2321000131-P000000012345", HSA_64)
    assert load_schema().errors(etree.fromstring(text)) == []


@pytest.mark.parametrize(("name", "old", "new", "element"), KNOWN_BAD, ids=[b[0] for b in KNOWN_BAD])
def test_known_bad_message_rejected_by_lxml(name: str, old: str, new: str, element: str) -> None:
    """R12, R13, R14, R15, R20, D13, D17: the XSD itself rejects each known-bad message."""
    text = _good()
    assert old in text
    bad = text.replace(old, new, 1)
    errors = load_schema().errors(etree.fromstring(bad))
    assert errors, name
    assert element in {e.element for e in errors} | {e.path.rsplit("/", 1)[-1] for e in errors}
    # the reported error never carries the value (it may be a personnummer)
    assert "19701063239" not in " ".join(str(e) for e in errors)


@pytest.mark.parametrize(("name", "old", "new", "element"), KNOWN_BAD, ids=[b[0] for b in KNOWN_BAD])
def test_known_bad_message_rejected_by_xmllint(tmp_path: Path, xmllint: str, name: str, old: str, new: str,
                                              element: str) -> None:
    bad = tmp_path / f"{name}.xml"
    bad.write_text(_good().replace(old, new, 1))
    run = subprocess.run([xmllint, "--noout", "--schema", str(SHIPPED_XSD), str(bad)], capture_output=True, text=True)
    assert run.returncode != 0
    assert "fails to validate" in run.stderr


def test_kvakod_pattern_is_the_guides_exact_pattern() -> None:
    """The stand-in quotes this pattern in faults, as SPOR's Java stack does (R16)."""
    doc = etree.parse(str(SHIPPED_XSD))
    xs = "http://www.w3.org/2001/XMLSchema"
    pattern = doc.find(f"{{{xs}}}simpleType[@name='kvakod']/{{{xs}}}restriction/{{{xs}}}pattern")
    assert pattern is not None and pattern.get("value") == r"(\w\w\d\d\d)|(\w\w\w\d\d)"


def test_wsdl_imports_xsd_and_zeep_loads_it() -> None:
    import zeep

    client = zeep.Client(str(SHIPPED_WSDL))
    service = client.wsdl.services["RegistrationService"]
    port = service.ports["RegistrationServicePort"]
    assert "postRegistration" in port.binding._operations
    assert client.get_element(f"{{{NS}}}postRegistrationRequest") is not None


def test_second_variant_loads_from_configurable_folder_and_validates() -> None:
    """The mechanism a site uses to drop in UCR's WSDL: another namespace, other file names."""
    variant = load_schema(VARIANT_DIR)
    assert variant.namespace != NS
    assert variant.namespace == "urn:example:onboarding:spor:RegistrationService:4_1"
    assert variant.xsd_path.name == "registration-types.xsd"  # found through the WSDL's import
    assert variant.errors(etree.fromstring(_good(variant.namespace))) == []
    # a message in the shipped namespace is not valid under the variant, and vice versa
    assert variant.errors(etree.fromstring(_good()))
    assert load_schema().errors(etree.fromstring(_good(variant.namespace)))


def test_variant_differs_from_shipped_only_in_namespace_and_file_names() -> None:
    ns_variant = "urn:example:onboarding:spor:RegistrationService:4_1"
    shipped_xsd = SHIPPED_XSD.read_text().replace(NS, ns_variant)
    assert shipped_xsd == (VARIANT_DIR / "registration-types.xsd").read_text()
    shipped_wsdl = SHIPPED_WSDL.read_text().replace(NS, ns_variant).replace(SHIPPED_XSD.name, "registration-types.xsd")
    assert shipped_wsdl == (VARIANT_DIR / "RegistrationService.wsdl").read_text()


def test_location_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPOR_SCHEMA_LOCATION", str(VARIANT_DIR / "RegistrationService.wsdl"))
    assert load_schema().namespace == "urn:example:onboarding:spor:RegistrationService:4_1"


def test_inline_schema_in_wsdl_is_supported(tmp_path: Path) -> None:
    """UCR's WSDL may carry the schema inline instead of importing it."""
    wsdl = etree.parse(str(SHIPPED_WSDL))
    types = wsdl.getroot().find("{http://schemas.xmlsoap.org/wsdl/}types")
    for child in list(types):
        types.remove(child)
    types.append(etree.parse(str(SHIPPED_XSD)).getroot())
    path = tmp_path / "inline.wsdl"
    wsdl.write(str(path))
    schema = load_schema(path)
    assert schema.xsd_path == path
    assert schema.errors(etree.fromstring(_good())) == []


@pytest.mark.parametrize("bad", ["missing", "empty", "two_wsdl", "no_request"])
def test_unusable_location_is_a_configuration_error(tmp_path: Path, bad: str) -> None:
    location = tmp_path / "x"
    if bad == "empty":
        location.mkdir()
    elif bad == "two_wsdl":
        location.mkdir()
        (location / "a.wsdl").write_text(SHIPPED_WSDL.read_text())
        (location / "b.wsdl").write_text(SHIPPED_WSDL.read_text())
    elif bad == "no_request":
        location = tmp_path / "x.xsd"
        location.write_text(SHIPPED_XSD.read_text().replace('name="postRegistrationRequest"', 'name="other"'))
    with pytest.raises(ConfigurationError):
        load_schema(location)
