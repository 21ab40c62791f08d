"""XML rendering for Open311 GeoReport v2 (the spec's required format).

The JSON documents are the source; XML is their mechanical mapping: a list
becomes a wrapper element whose children are named by :data:`ITEM_TAGS`
(``services`` -> ``service``, ``service_requests`` -> ``request``...), ``None``
becomes an empty element, booleans become ``true``/``false``. UTF-8 with
the XML declaration, no namespace.
"""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

XML_MEDIA_TYPE = "text/xml; charset=utf-8"

ITEM_TAGS = {
    "services": "service", "service_requests": "request", "attributes": "attribute", "values": "value",
    "errors": "error", "endpoints": "endpoint", "formats": "format", "service_requests_updates": "request_update",
}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fill(elem: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, val in value.items():
            child = ET.SubElement(elem, key)
            _fill(child, val)
    elif isinstance(value, list | tuple):
        tag = ITEM_TAGS.get(elem.tag, "item")
        for val in value:
            _fill(ET.SubElement(elem, tag), val)
    else:
        elem.text = _text(value)


def render(root: str, value: Any) -> bytes:
    """``value`` (dict or list) under a ``<root>`` element, as UTF-8 XML bytes with a declaration."""
    elem = ET.Element(root)
    _fill(elem, value)
    body = ET.tostring(elem, encoding="unicode")
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + body).encode("utf-8")
