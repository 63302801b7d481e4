"""Where the WSDL and XSD come from, and XSD validation of outgoing messages.

The project ships its own WSDL/XSD (``plugins/spor/schema/``) modelled on RegistrationService 4.1.
UCR hands out the real ones at onboarding; a site drops them into a folder and points
``SPOR_SCHEMA_LOCATION`` (or the ``location`` argument) at that folder or at the WSDL file.
The message builder takes its namespace from the loaded schema, never from a constant.

Accepted locations:
- a folder holding exactly one ``*.wsdl`` (or, without a WSDL, exactly one ``*.xsd``);
- a ``.wsdl`` file whose ``wsdl:types`` imports the message XSD (``xs:import schemaLocation``)
  or holds the schema inline;
- a ``.xsd`` file (no WSDL: fine for building and validating, not for a SOAP client).
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spor.errors import ConfigurationError
from spor.resources import shipped

if TYPE_CHECKING:  # lxml is imported lazily: DAG files import this package
    from lxml import etree

SHIPPED_DIR = shipped("schema")
SHIPPED_WSDL = SHIPPED_DIR / "RegistrationService-4_1.wsdl"
LOCATION_ENV = "SPOR_SCHEMA_LOCATION"
REQUEST_ELEMENT = "postRegistrationRequest"
RESPONSE_ELEMENT = "postRegistrationResponse"

_WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
_XS_NS = "http://www.w3.org/2001/XMLSchema"


@dataclass(frozen=True)
class SchemaError:
    """One schema violation, without the offending value (it may be a personnummer)."""

    element: str  # local name of the element that failed, e.g. 'preliminarOperationskod'
    path: str  # path of local names, e.g. 'registrering/anmalan/preliminarOperationskod'
    kind: str  # 'pattern', 'length', 'enumeration', 'type', 'missing', 'unexpected', 'other'

    def __str__(self) -> str:
        return f"{self.path}: {self.kind}"


@dataclass(frozen=True)
class LoadedSchema:
    xsd: etree.XMLSchema
    namespace: str
    xsd_path: Path
    wsdl_path: Path | None

    def element_name(self, local: str) -> str:
        """Clark notation ``{namespace}local`` for an element of this schema."""
        return f"{{{self.namespace}}}{local}" if self.namespace else local

    def errors(self, element: Any) -> list[SchemaError]:
        """Schema violations of ``element`` (an lxml element or tree); empty when valid."""
        if self.xsd.validate(element):
            return []
        return [_describe(e, element) for e in self.xsd.error_log]

    def is_valid(self, element: Any) -> bool:
        return bool(self.xsd.validate(element))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].split(":")[-1]


_KINDS = (
    ("PATTERN", "pattern"),
    ("LENGTH", "length"),  # LENGTH_VALID, MINLENGTH_VALID, MAXLENGTH_VALID
    ("ENUMERATION", "enumeration"),
    ("DATATYPE", "type"),
    ("INCLUSIVE", "range"),
    ("EXCLUSIVE", "range"),
    ("DIGITS", "digits"),
    ("MISSING", "missing"),
    ("UNEXPECTED", "unexpected"),
    ("NOTEMPTY", "empty"),
)


def _describe(entry: Any, element: Any) -> SchemaError:
    # entry.message holds the offending value, so only its element and kind are passed on.
    # entry.path is a positional XPath (/*/*[3]/*[3]); resolve it to name the element.
    steps: list[str] = []
    try:
        found = element.xpath(entry.path) if entry.path else []
    except Exception:  # noqa: BLE001 - an unresolvable path only costs us the element name
        found = []
    if found and hasattr(found[0], "tag"):
        node = found[0]
        while node is not None:
            steps.append(_local(node.tag))
            node = node.getparent()
        steps.reverse()
    else:
        named = re.match(r"Element '([^']+)'", entry.message or "")
        steps = [_local(named.group(1))] if named else []
    path = "/".join(steps[1:]) if len(steps) > 1 else "/".join(steps)
    type_name = entry.type_name or ""
    kind = next((k for key, k in _KINDS if key in type_name), "other")
    if kind == "other" and "ELEMENT_CONTENT" in type_name:
        # 'Missing child element(s)' / 'This element is not expected' share one libxml2 code.
        kind = "missing" if "Missing child" in (entry.message or "") else "unexpected"
    return SchemaError(element=steps[-1] if steps else "", path=path, kind=kind)


def _single(folder: Path, pattern: str) -> Path | None:
    found = sorted(folder.glob(pattern))
    if len(found) > 1:
        raise ConfigurationError(f"schema location {folder} holds {len(found)} {pattern} files; keep one")
    return found[0] if found else None


def _schema_from_wsdl(wsdl_path: Path) -> tuple[Path, Any]:
    """(path the XSD came from, the xs:schema element to compile) for a WSDL file."""
    from lxml import etree

    doc = etree.parse(str(wsdl_path))
    schemas = doc.findall(f"{{{_WSDL_NS}}}types/{{{_XS_NS}}}schema")
    for schema in schemas:  # prefer a schema that declares the request element inline
        if schema.find(f"{{{_XS_NS}}}element[@name='{REQUEST_ELEMENT}']") is not None:
            return wsdl_path, schema
    for schema in schemas:
        for imp in schema.findall(f"{{{_XS_NS}}}import") + schema.findall(f"{{{_XS_NS}}}include"):
            loc = imp.get("schemaLocation")
            if loc and not loc.startswith(("http:", "https:")):
                xsd_path = (wsdl_path.parent / loc).resolve()
                if xsd_path.exists():
                    return xsd_path, etree.parse(str(xsd_path)).getroot()
    raise ConfigurationError(
        f"WSDL {wsdl_path.name} neither declares {REQUEST_ELEMENT} inline nor imports a local XSD "
        "(fetch UCR's XSD next to the WSDL and point schemaLocation at it)"
    )


def _resolve(location: str | Path | None) -> tuple[Path | None, Path]:
    """(wsdl_path or None, path of the WSDL or XSD to read)."""
    if location is None or str(location) == "":
        location = os.environ.get(LOCATION_ENV) or SHIPPED_WSDL
    path = Path(location).expanduser().resolve()
    if not path.exists():
        raise ConfigurationError(f"schema location {path} does not exist")
    if path.is_dir():
        wsdl = _single(path, "*.wsdl")
        if wsdl is not None:
            return wsdl, wsdl
        xsd = _single(path, "*.xsd")
        if xsd is None:
            raise ConfigurationError(f"schema location {path} holds no .wsdl or .xsd file")
        return None, xsd
    if path.suffix.lower() == ".wsdl":
        return path, path
    if path.suffix.lower() == ".xsd":
        return None, path
    raise ConfigurationError(f"schema location {path} is neither a folder, a .wsdl nor a .xsd")


_cache: dict[tuple[Path | None, Path], LoadedSchema] = {}
_fast: dict[tuple[str | None, str | None], LoadedSchema] = {}
_lock = threading.Lock()


def load_schema(location: str | Path | None = None) -> LoadedSchema:
    """Load (once per process and location) the message schema.

    ``location``: a folder, a WSDL or an XSD path; None → ``$SPOR_SCHEMA_LOCATION`` → shipped files.
    Raises ConfigurationError (a run-stopping error) when the location is unusable.
    """
    fast_key = (str(location) if location is not None else None, os.environ.get(LOCATION_ENV))
    hit = _fast.get(fast_key)  # the builder calls this per registration: skip path resolution
    if hit is not None:
        return hit
    key = _resolve(location)
    with _lock:
        if key in _cache:
            _fast[fast_key] = _cache[key]
            return _cache[key]
    from lxml import etree

    wsdl_path, source = key
    try:
        if wsdl_path is not None:
            xsd_path, schema_root = _schema_from_wsdl(wsdl_path)
        else:
            xsd_path, schema_root = source, etree.parse(str(source)).getroot()
        namespace = schema_root.get("targetNamespace", "")
        if schema_root.find(f"{{{_XS_NS}}}element[@name='{REQUEST_ELEMENT}']") is None:
            raise ConfigurationError(f"{xsd_path.name} declares no top-level {REQUEST_ELEMENT} element")
        tree = schema_root.getroottree() if schema_root.getparent() is None else _detach(schema_root, xsd_path)
        xsd = etree.XMLSchema(tree)
    except etree.XMLSchemaParseError as exc:
        raise ConfigurationError(f"schema at {source} does not compile: {exc}") from None
    except etree.XMLSyntaxError as exc:
        raise ConfigurationError(f"schema at {source} is not well-formed XML: {exc}") from None
    loaded = LoadedSchema(xsd=xsd, namespace=namespace, xsd_path=xsd_path, wsdl_path=wsdl_path)
    with _lock:
        _cache[key] = loaded
        _fast[fast_key] = loaded
    return loaded


def schema_root(loaded: LoadedSchema) -> Any:
    """The ``xs:schema`` element ``loaded`` was compiled from (inline in its WSDL, or its XSD's root)."""
    from lxml import etree

    if loaded.wsdl_path is not None:
        return _schema_from_wsdl(loaded.wsdl_path)[1]
    return etree.parse(str(loaded.xsd_path), etree.XMLParser(remove_comments=True)).getroot()


def _detach(schema_el: Any, base: Path) -> Any:
    """An inline WSDL schema as its own document; namespace declarations of the WSDL are kept."""
    from lxml import etree

    copy = etree.fromstring(etree.tostring(schema_el), base_url=base.as_uri())
    return etree.ElementTree(copy)
