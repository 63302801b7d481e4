"""The XML side of a registration: elements, serialisation, XSD validation, content hash.

THE SEAM TO SENDING (docs/message.md):
- ``Registration.element`` is the ``postRegistrationRequest`` element. The client puts it into the
  SOAP 1.1 body unchanged; ``Registration.xml_bytes`` is exactly that element serialised
  (UTF-8, no XML declaration), so the client may also splice these bytes into the envelope.
- ``Registration.content_hash`` = SHA-256 (hex) of the element's Canonical XML 1.0 form (C14N,
  without comments) as a stand-alone document. Two builds of the same data give the same hash;
  any change in any sent value changes it. The ledger compares it with the last final answer's
  hash to decide "unchanged → do not send again".
- Every message is validated against the loaded XSD before it can leave (``validate``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from spor.errors import BuildError

if TYPE_CHECKING:
    from spor.registration.schema_files import LoadedSchema

#: Element that wraps the registration's variables inside the request. The variable list's
#: ``xml_element`` paths are relative to it (header ones are relative to the request).
REGISTRATION_ELEMENT = "registrering"
#: Header children of the request before the registration, in XSD order.
HEADER_PARTS = ("header",)


def element_bytes(element: Any) -> bytes:
    """The element as it goes into the SOAP body: UTF-8, no declaration, no pretty-printing."""
    from lxml import etree

    return etree.tostring(element, encoding="UTF-8")


def content_hash(element: Any) -> str:
    """SHA-256 hex of the element's C14N 1.0 form (exclusive of comments)."""
    from lxml import etree

    return hashlib.sha256(etree.tostring(element, method="c14n")).hexdigest()


def validate(element: Any, schema: LoadedSchema | None = None, behandlingsnummer: str | None = None) -> None:
    """Raise BuildError(rule='XSD') naming the first failing element (never its value).

    ``schema`` defaults to ``load_schema()``; ``behandlingsnummer`` to the one in the element.
    """
    if schema is None:
        from spor.registration.schema_files import load_schema

        schema = load_schema()
    errors = schema.errors(element)
    if not errors:
        return
    if behandlingsnummer is None:
        found = element.xpath("./*[local-name()=$r]/*[local-name()='behandlingsnummer']/text()", r=REGISTRATION_ELEMENT)
        behandlingsnummer = str(found[0]) if found else "?"
    first = errors[0]
    variable = _variable_for_path(first.path) or first.element
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    raise BuildError(behandlingsnummer, variable, "XSD", f"schema violation ({first.kind}) at {first.path}{more}")


def _variable_for_path(path: str) -> str | None:
    """Source-contract column of the variable whose element is at ``path`` (request-relative)."""
    from spor.registration.variable_list import all_variables

    steps = path.split("/")
    rel = "/".join(steps[1:]) if steps and steps[0] == REGISTRATION_ELEMENT else path
    for v in all_variables():
        if v.xml_element == rel:
            return v.column or v.label
    return None


class ElementWriter:
    """Writes (path, text) entries under a root, creating parents lazily in first-seen order.

    Entries must arrive in XSD order (the variable list's order); a parent with no leaf under
    it is never created, so no empty part (planering, genomforande, postop) is ever sent (R7, R12).
    """

    __slots__ = ("_names", "_root", "_made", "_sub")

    def __init__(self, root_name: str, names: dict[str, str], namespace: str = ""):
        from lxml import etree

        self._sub = etree.SubElement
        self._names = names  # local name → Clark name, precomputed per schema
        # the schema's namespace as the default namespace: no prefixes in the message
        self._root = etree.Element(names.get(root_name) or root_name, nsmap={None: namespace} if namespace else None)
        self._made: dict[tuple[str, ...], Any] = {(): self._root}

    @property
    def root(self) -> Any:
        return self._root

    def _parent(self, path: Sequence[str]) -> Any:
        key = tuple(path)
        el = self._made.get(key)
        if el is None:
            el = self._sub(self._parent(key[:-1]), self._names[key[-1]])
            self._made[key] = el
        return el

    def add(self, path: Sequence[str], texts: Iterable[str]) -> None:
        parent = self._parent(path[:-1])
        name = self._names[path[-1]]
        for text in texts:
            self._sub(parent, name).text = text


def clark_names(namespace: str, locals_: Iterable[str]) -> dict[str, str]:
    return {n: (f"{{{namespace}}}{n}" if namespace else n) for n in locals_}
