"""Does the WSDL the SOAP client loaded describe the call the client makes and the message the
builder validates?

The client puts the builder's element, unchanged, into a hand-built SOAP 1.1 envelope, and the
builder validates against ``load_schema()`` (``SPOR_SCHEMA_LOCATION`` or the shipped XSD), while
zeep reads the connection's ``wsdl_location``. After UCR's real WSDL is dropped in, the two can
disagree without a word. ``check_binding`` compares them when the client is built and raises
``SchemaMismatch`` (stops the run, nothing sent) naming every difference:

- the binding is SOAP 1.1 (not 1.2), document style, literal use;
- the operation's input is one element, the builder's ``{namespace}postRegistrationRequest``;
- the operation declares a soapAction (SOAP 1.1 sends it as a header);
- the WSDL's schema for that namespace declares the same types and elements as the builder's
  schema (compared declaration by declaration, prefixes and comments aside).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spor.errors import SchemaMismatch

if TYPE_CHECKING:
    import zeep

    from spor.registration.schema_files import LoadedSchema

__all__ = ["binding_differences", "check_binding"]

_WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
_SOAP11_BINDING_NS = "http://schemas.xmlsoap.org/wsdl/soap/"
_SOAP12_BINDING_NS = "http://schemas.xmlsoap.org/wsdl/soap12/"
_XS_NS = "http://www.w3.org/2001/XMLSchema"
#: Attributes whose values are QNames: compared in {namespace}local form, whatever the prefix.
_QNAME_ATTRIBUTES = frozenset({"type", "base", "ref", "itemType", "substitutionGroup"})
#: How many differing declarations an error names (the rest are counted).
NAMED = 6


def check_binding(zeep_client: zeep.Client, operation: str, schema: LoadedSchema) -> None:
    """Raise ``SchemaMismatch`` naming the differences, if any."""
    found = binding_differences(zeep_client, operation, schema)
    if found:
        raise SchemaMismatch(
            f"the WSDL at {zeep_client.wsdl.location} does not match the message this client builds and sends "
            f"(schema {schema.xsd_path}): " + "; ".join(found)
            + ". Nothing was sent. Point wsdl_location and SPOR_SCHEMA_LOCATION at the same WSDL/XSD from UCR "
            "(docs/connection.md)")


def binding_differences(zeep_client: zeep.Client, operation: str, schema: LoadedSchema) -> list[str]:
    """Each way the loaded WSDL differs from the SOAP 1.1 document/literal call with the builder's element."""
    from spor.registration.schema_files import REQUEST_ELEMENT

    binding = zeep_client.service._binding
    found: list[str] = []
    kind = type(binding).__name__
    if kind != "Soap11Binding":
        version = "SOAP 1.2" if kind == "Soap12Binding" else kind
        found.append(f"the binding {_name(binding.name)} is {version}; this client sends SOAP 1.1 envelopes")
    try:
        op = binding.get(operation)
    except ValueError:
        return [*found, f"the binding {_name(binding.name)} has no operation {operation}"]
    if op.style != "document":
        found.append(f"operation {operation} has style {op.style!r}; this client sends document style")
    use = _input_use(zeep_client, binding, operation)
    if use not in (None, "literal"):
        found.append(f"the input of {operation} has use {use!r}; this client sends literal XML")
    if op.soapaction is None:
        found.append(f"operation {operation} declares no soapAction (SOAP 1.1 sends it as the SOAPAction header)")
    body = op.input.body if op.input is not None else None
    expected = schema.element_name(REQUEST_ELEMENT)
    actual = getattr(body, "qname", None)
    actual_name = None if actual is None else actual.text
    if actual_name != expected:
        found.append(f"the input element of {operation} is {actual_name or 'not one element'}; "
                     f"the builder produces {expected}")
    found += _schema_differences(zeep_client, schema)
    return found


def _name(qname: Any) -> str:
    return getattr(qname, "localname", None) or str(qname)


def _load(zeep_client: zeep.Client, location: str) -> Any:
    """A document as zeep's transport loads it (the same session, certificate and proxy)."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True)
    return etree.fromstring(zeep_client.transport.load(location), parser)


def _input_use(zeep_client: zeep.Client, binding: Any, operation: str) -> str | None:
    """``use`` of the operation's soap:body input (zeep reads it and forgets it)."""
    root = _load(zeep_client, zeep_client.wsdl.location)
    for b in root.iter(f"{{{_WSDL_NS}}}binding"):
        if b.get("name") != _name(binding.name):
            continue
        for op in b.findall(f"{{{_WSDL_NS}}}operation"):
            if op.get("name") != operation:
                continue
            for ns in (_SOAP11_BINDING_NS, _SOAP12_BINDING_NS):
                body = op.find(f"{{{_WSDL_NS}}}input/{{{ns}}}body")
                if body is not None:
                    return str(body.get("use", "literal"))
    return None


def _schema_differences(zeep_client: zeep.Client, schema: LoadedSchema) -> list[str]:
    """The declarations in which the WSDL's schema for the builder's namespace differs from the builder's."""
    from lxml import etree

    from spor.registration.schema_files import schema_root

    docs = [d for d in zeep_client.wsdl.types.documents if d._target_namespace == schema.namespace]
    if not docs:
        namespaces = sorted({str(d._target_namespace) for d in zeep_client.wsdl.types.documents
                             if d._target_namespace and d._target_namespace != _XS_NS})
        return [f"the WSDL's schema has no target namespace {schema.namespace} "
                f"(it declares {', '.join(namespaces) or 'none'})"]
    theirs: dict[str, str] = {}
    for doc in docs:
        if not doc._location:
            continue
        root = _load(zeep_client, doc._location)
        for el in ([root] if etree.QName(root).localname == "schema" else root.iter(f"{{{_XS_NS}}}schema")):
            if el.get("targetNamespace") == schema.namespace:
                theirs.update(_declarations(el))
    ours = _declarations(schema_root(schema))
    only_theirs = sorted(set(theirs) - set(ours))
    only_ours = sorted(set(ours) - set(theirs))
    changed = sorted(k for k in set(ours) & set(theirs) if ours[k] != theirs[k])
    found = []
    for what, names in (("differs", changed), ("is only in the WSDL's schema", only_theirs),
                        ("is only in the builder's schema", only_ours)):
        if names:
            more = f" and {len(names) - NAMED} more" if len(names) > NAMED else ""
            found.append(f"{', '.join(names[:NAMED])}{more} {what}")
    return found


def _declarations(schema_el: Any) -> dict[str, str]:
    """'element postRegistrationRequest' -> its declaration in a form free of prefixes and comments."""
    from lxml import etree

    out: dict[str, str] = {}
    for child in schema_el:
        if not isinstance(child.tag, str) or not child.get("name"):
            continue
        out[f"{etree.QName(child).localname} {child.get('name')}"] = _canonical(child)
    return out


def _canonical(el: Any) -> str:
    from lxml import etree

    if etree.QName(el).localname in ("annotation", "documentation", "appinfo"):
        return ""
    attrs = []
    for key, value in sorted(el.attrib.items()):
        if key in _QNAME_ATTRIBUTES and value:
            prefix, _, local = value.rpartition(":")
            value = f"{{{el.nsmap.get(prefix or None, '')}}}{local}"
        attrs.append(f"{key}={value!r}")
    children = "".join(_canonical(c) for c in el if isinstance(c.tag, str))
    text = (el.text or "").strip()
    return f"<{el.tag} {' '.join(attrs)}>{text}{children}</>"
