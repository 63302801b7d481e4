"""The WSDL the SOAP client loads is checked against the call it makes and the message the builder
validates (SOAP 1.1, document/literal, the request element, soapAction, the same schema); a
mismatch stops before anything is sent and names the difference."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from spor.errors import RunStoppingError, SchemaMismatch
from spor.registration.schema_files import SHIPPED_DIR, SHIPPED_WSDL, load_schema
from spor.transport.binding import binding_differences

OPERATION = "postRegistration"
NS = "urn:se:ucr:spor:registration:4_1"


def variant(tmp_path: Path, *, wsdl: tuple[str, str] | None = None, xsd: tuple[str, str] | None = None,
            name: str = "variant") -> Path:
    """A copy of the shipped WSDL and XSD with one text replaced in either; returns the WSDL."""
    folder = tmp_path / name
    shutil.copytree(SHIPPED_DIR, folder, ignore=shutil.ignore_patterns("__*"))
    for path, change in ((folder / SHIPPED_WSDL.name, wsdl), (folder / "spor-registration-4_1.xsd", xsd)):
        if change:
            text = path.read_text(encoding="utf-8")
            assert change[0] in text, change[0]
            path.write_text(text.replace(change[0], change[1]), encoding="utf-8")
    return folder / SHIPPED_WSDL.name


def differences(wsdl: Path, schema_location: Path | None = None) -> list[str]:
    import zeep

    return binding_differences(zeep.Client(str(wsdl)), OPERATION, load_schema(schema_location))


def test_shipped_wsdl_and_xsd_agree():
    assert differences(SHIPPED_WSDL) == []


def test_soap12_binding_is_named(tmp_path):
    wsdl = variant(tmp_path, wsdl=('xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"',
                                   'xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap12/"'))
    assert differences(wsdl) == ["the binding RegistrationServiceSoapBinding is SOAP 1.2; this client sends SOAP 1.1 envelopes"]


def test_rpc_style_encoded_use_and_missing_soap_action_are_named(tmp_path):
    wsdl = variant(tmp_path, wsdl=('<soap:operation soapAction="" style="document"/>\n'
                                   '      <wsdl:input><soap:body use="literal"/></wsdl:input>',
                                   '<wsdl:input><soap:body use="encoded"/></wsdl:input>'))
    found = differences(wsdl)
    assert "the input of postRegistration has use 'encoded'; this client sends literal XML" in found
    assert any("declares no soapAction" in f for f in found), found
    rpc = variant(tmp_path, name="rpc", wsdl=('style="document"/>\n      <wsdl:input>', 'style="rpc"/>\n      <wsdl:input>'))
    assert any("style 'rpc'" in f for f in differences(rpc))


def test_another_input_element_is_named(tmp_path):
    wsdl = variant(tmp_path, wsdl=('<wsdl:part name="parameters" element="tns:postRegistrationRequest"/>',
                                   '<wsdl:part name="parameters" element="tns:registrering"/>'),
                   xsd=('<xs:complexType name="registrering">',
                        '<xs:element name="registrering" type="tns:registrering"/>\n  <xs:complexType name="registrering">'))
    found = differences(wsdl, SHIPPED_DIR)
    assert f"the input element of postRegistration is {{{NS}}}registrering; the builder produces {{{NS}}}postRegistrationRequest" in found
    assert "element registrering is only in the WSDL's schema" in found


def test_another_namespace_is_named(tmp_path):
    other = "urn:se:ucr:spor:registration:4_2"
    wsdl = variant(tmp_path, wsdl=(f'xmlns:tns="{NS}"', f'xmlns:tns="{other}"'),
                   xsd=(f'targetNamespace="{NS}"', f'targetNamespace="{other}"'))
    text = wsdl.read_text().replace(f'namespace="{NS}"', f'namespace="{other}"')
    wsdl.write_text(text.replace(f'targetNamespace="{NS}"', f'targetNamespace="{other}"'))
    xsd = wsdl.parent / "spor-registration-4_1.xsd"
    xsd.write_text(xsd.read_text().replace(f'xmlns:tns="{NS}"', f'xmlns:tns="{other}"'))
    found = differences(wsdl, SHIPPED_DIR)
    assert (f"the input element of postRegistration is {{{other}}}postRegistrationRequest; "
            f"the builder produces {{{NS}}}postRegistrationRequest") in found
    assert f"the WSDL's schema has no target namespace {NS} (it declares {other})" in found


def test_a_wsdl_whose_schema_differs_from_the_builders_is_named(tmp_path):
    """UCR's WSDL in wsdl_location, the builder still on the shipped XSD (or the reverse)."""
    wsdl = variant(tmp_path, xsd=("<xs:pattern value=\"(\\w\\w\\d\\d\\d)|(\\w\\w\\w\\d\\d)\"/>",
                                  "<xs:pattern value=\"\\w\\w\\w\\d\\d\"/>"))
    assert differences(wsdl, SHIPPED_DIR) == ["simpleType kvakod differs"]
    assert differences(wsdl, wsdl) == []   # SPOR_SCHEMA_LOCATION at the same WSDL: they agree


def test_prefixes_and_comments_do_not_count(tmp_path):
    wsdl = variant(tmp_path, xsd=('xmlns:tns="urn:se:ucr:spor:registration:4_1"',
                                  'xmlns:tns="urn:se:ucr:spor:registration:4_1" xmlns:r="urn:se:ucr:spor:registration:4_1"'))
    xsd = wsdl.parent / "spor-registration-4_1.xsd"
    xsd.write_text(xsd.read_text().replace('type="tns:registrering"', 'type="r:registrering"')
                   .replace("<xs:simpleType name=\"kvakod\">", "<!-- UCR's note --><xs:simpleType name=\"kvakod\">"))
    assert differences(wsdl, SHIPPED_DIR) == []


def test_the_client_stops_before_sending_naming_the_difference(tmp_path, standin, standin_pki):
    """SporClient refuses to be built on a mismatching WSDL: a run-stopping error, nothing sent."""
    from spor.transport.client import SporClient
    from standin.testing import spor_config

    wsdl = variant(tmp_path, wsdl=('xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"',
                                   'xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap12/"'))
    with pytest.raises(SchemaMismatch, match="SOAP 1.2") as raised:
        SporClient(spor_config(standin, standin_pki, wsdl_location=str(wsdl)))
    assert isinstance(raised.value, RunStoppingError)
    assert standin.received.index() == []
    SporClient(spor_config(standin, standin_pki, wsdl_location=standin.wsdl_url))  # the stand-in's own WSDL agrees
