"""SOAP side of the stand-in: read a request, validate it, and answer the way SPOR does.

Schema violations become an HTTP 500 SOAP 1.1 Fault whose faultstring reads like the Java stack
(Apache CXF + Xerces) behind SPOR's service, e.g.
``Unmarshalling Error: cvc-pattern-valid: Value 'H-CAR' is not facet-valid with respect to pattern
'(\\w\\w\\d\\d\\d)|(\\w\\w\\w\\d\\d)' for type 'kvakod'.`` The message is derived from lxml's error log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree

SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
XS_NS = "http://www.w3.org/2001/XMLSchema"
_XS = f"{{{XS_NS}}}"

# A parser that never fetches anything and never expands entities (the body comes from the network).
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=False)


@dataclass(frozen=True)
class ParsedRequest:
    element: Any | None          # the postRegistrationRequest element (None when unreadable)
    behandlingsnummer: str | None
    system_id: str | None
    fault: str | None            # Java-style faultstring when the request breaks the schema


class SchemaTypes:
    """Which named XSD type each element has and which patterns each type carries (for messages)."""

    def __init__(self, xsd_root: Any):
        self.element_types: dict[str, list[str]] = {}
        self.patterns: dict[str, list[str]] = {}
        self.bases: dict[str, str] = {}
        for el in xsd_root.iter(f"{_XS}element"):
            if el.get("name") and el.get("type"):
                self.element_types.setdefault(el.get("name"), []).append(_local(el.get("type")))
        for st in xsd_root.iter(f"{_XS}simpleType"):
            name = st.get("name")
            if not name:
                continue
            restriction = st.find(f"{_XS}restriction")
            if restriction is None:
                continue
            if restriction.get("base"):
                self.bases[name] = _local(restriction.get("base"))
            self.patterns[name] = [p.get("value") for p in restriction.findall(f"{_XS}pattern")]

    def _pattern_chain(self, type_name: str) -> list[str]:
        found, seen = [], set()
        while type_name and type_name not in seen:
            seen.add(type_name)
            found += self.patterns.get(type_name, [])
            type_name = self.bases.get(type_name, "")
        return found

    def builtin_of(self, type_name: str) -> str:
        """The XSD built-in type a named simple type restricts (Xerces names it in datatype errors)."""
        seen: set[str] = set()
        while type_name in self.bases and type_name not in seen:
            seen.add(type_name)
            type_name = self.bases[type_name]
        return type_name

    def type_of(self, element_name: str, pattern: str | None = None) -> str:
        candidates = self.element_types.get(element_name, [])
        if pattern is not None:
            for name in candidates:
                if pattern in self._pattern_chain(name):
                    return name
            if not candidates:
                for name, patterns in self.patterns.items():
                    if pattern in patterns:
                        return name
        return candidates[0] if candidates else element_name


def _local(qname: str) -> str:
    return qname.rsplit("}", 1)[-1].split(":")[-1]


_LXML_VALUE = re.compile(r"The value '(?P<value>.*)' is not accepted by the pattern '(?P<pattern>.*)'\.$", re.S)
_LXML_ENUM = re.compile(r"The value '(?P<value>.*)' is not an element of the set \{(?P<set>.*)\}\.$", re.S)
_LXML_ATOMIC = re.compile(r"'(?P<value>[^']*)' is not a valid value of the (?:atomic|local atomic) type '(?P<type>[^']*)'", re.S)
_LXML_LEN = re.compile(r"\[facet '(?P<facet>\w+)'\] The value '?(?P<value>.*?)'? has a length of '(?P<len>\d+)'; "
                       r"this (?:exceeds|underruns) the allowed (?:maximum|minimum) length of '(?P<limit>\d+)'", re.S)
_LXML_RANGE = re.compile(r"\[facet '(?P<facet>\w+)'\] The value '(?P<value>.*?)' is (?:greater|less) than", re.S)
_LXML_EXPECTED = re.compile(r"Expected is(?: one of)? \( (?P<exp>.*?) \)")


def _expected(message: str) -> str:
    m = _LXML_EXPECTED.search(message)
    if not m:
        return ""
    names = []
    for qn in m.group("exp").split(", "):
        ns, _, local = qn.strip().lstrip("{").partition("}")
        names.append(f'"{ns}":{local}' if local else qn.strip())
    return " One of '{" + ", ".join(names) + "}' is expected."


def java_style(entry: Any, types: SchemaTypes) -> str:
    """Translate one lxml schema error into the Xerces wording SPOR's service uses."""
    message = entry.message or ""
    element = ""
    m = re.match(r"Element '(?:\{[^}]*\})?([^']+)'", message)
    if m:
        element = m.group(1)
    kind = entry.type_name or ""
    if "PATTERN" in kind and (v := _LXML_VALUE.search(message)):
        t = types.type_of(element, v.group("pattern"))
        return (f"cvc-pattern-valid: Value '{v.group('value')}' is not facet-valid with respect to pattern "
                f"'{v.group('pattern')}' for type '{t}'.")
    if "ENUMERATION" in kind and (v := _LXML_ENUM.search(message)):
        values = ", ".join(s.strip().strip("'") for s in v.group("set").split(","))
        return (f"cvc-enumeration-valid: Value '{v.group('value')}' is not facet-valid with respect to "
                f"enumeration '[{values}]'. It must be a value from the enumeration.")
    if "LENGTH" in kind and (v := _LXML_LEN.search(message)):
        facet = v.group("facet")
        return (f"cvc-{facet}-valid: Value '{v.group('value')}' with length = '{v.group('len')}' is not "
                f"facet-valid with respect to {facet} '{v.group('limit')}' for type '{types.type_of(element)}'.")
    if ("INCLUSIVE" in kind or "EXCLUSIVE" in kind) and (v := _LXML_RANGE.search(message)):
        return (f"cvc-{v.group('facet')}-valid: Value '{v.group('value')}' is not facet-valid with respect to "
                f"{v.group('facet')} for type '{types.type_of(element)}'.")
    if "DATATYPE" in kind and (v := _LXML_ATOMIC.search(message)):
        builtin = types.builtin_of(_local(v.group("type")))
        return f"cvc-datatype-valid.1.2.1: '{v.group('value')}' is not a valid value for '{builtin}'."
    if "ELEMENT_CONTENT" in kind or "Missing child" in message or "not expected" in message:
        if "Missing child" in message:
            return f"cvc-complex-type.2.4.b: The content of element '{element}' is not complete.{_expected(message)}"
        return f"cvc-complex-type.2.4.a: Invalid content was found starting with element '{element}'.{_expected(message)}"
    # Anything else: keep lxml's words, without namespaces, under Xerces' generic rule.
    plain = re.sub(r"\{[^}]*\}", "", message)
    return f"cvc-type.3.1.3: {plain}"


def parse_request(body: bytes, xsd: Any, types: SchemaTypes, request_tag: str) -> ParsedRequest:
    """Read a SOAP request; validate its body element against the XSD."""
    try:
        envelope = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        return ParsedRequest(None, None, None, f"Unmarshalling Error: {exc.msg}")
    soap_body = envelope.find(f"{{{SOAP11_NS}}}Body")
    if envelope.tag != f"{{{SOAP11_NS}}}Envelope" or soap_body is None or len(soap_body) == 0:
        return ParsedRequest(None, None, None, "Unmarshalling Error: not a SOAP 1.1 envelope with a body")
    element = soap_body[0]
    behandlingsnummer = _text(element, "behandlingsnummer")
    system_id = _text(element, "systemId")
    if element.tag != request_tag:
        return ParsedRequest(element, behandlingsnummer, system_id,
                             f"Unmarshalling Error: unexpected element (uri:\"{etree.QName(element).namespace or ''}\", "
                             f"local:\"{etree.QName(element).localname}\"). Expected elements are <{{{etree.QName(request_tag).namespace}}}"
                             f"{etree.QName(request_tag).localname}>")
    if xsd.validate(element):  # lxml validates a subtree as if it were its own document
        return ParsedRequest(element, behandlingsnummer, system_id, None)
    first = xsd.error_log[0]  # Xerces stops at the first violation
    return ParsedRequest(element, behandlingsnummer, system_id, "Unmarshalling Error: " + java_style(first, types))


def _text(element: Any, local: str) -> str | None:
    found = element.find(f".//{{*}}{local}")
    return found.text.strip() if found is not None and found.text else None


def answer_envelope(namespace: str, result_code: str, result_text: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>'
        f'<soap:Envelope xmlns:soap="{SOAP11_NS}"><soap:Body>'
        f'<ns2:postRegistrationResponse xmlns:ns2="{escape(namespace)}">'
        f"<ns2:resultCode>{escape(result_code)}</ns2:resultCode>"
        f"<ns2:resultText>{escape(result_text)}</ns2:resultText>"
        f"</ns2:postRegistrationResponse></soap:Body></soap:Envelope>"
    ).encode()


def fault_envelope(faultstring: str, faultcode: str = "soap:Client") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>'
        f'<soap:Envelope xmlns:soap="{SOAP11_NS}"><soap:Body><soap:Fault>'
        f"<faultcode>{escape(faultcode)}</faultcode>"
        f"<faultstring>{escape(faultstring)}</faultstring>"
        f"</soap:Fault></soap:Body></soap:Envelope>"
    ).encode()


def created_text(behandlingsnummer: str) -> str:
    return f"Skapade: {behandlingsnummer}"


def updated_text(behandlingsnummer: str) -> str:
    return f"Uppdaterade: {behandlingsnummer}"


def unknown_system_text(behandlingsnummer: str, system_id: str) -> str:
    # The integration guide's wording (R17).
    return (f"Systemet kunde inte ta emot registreringen: {behandlingsnummer} "
            f"Systemet {system_id} som angivits i SystemId hittas inte")
