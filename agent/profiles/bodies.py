"""Reading all the body fields of a message at once: the parsed text tokens, JSON value or
XML tree of a reply, each field's path followed without a call per field.

``parse_body`` parses a body once (the engine keeps it for every field that needs it).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

from defusedxml import DefusedXmlException

from agent.profiles import xmlbody as X
from agent.profiles.errors import DecodeError
from agent.profiles.fields import _text_cooker, format_path, getter
from agent.profiles.schema import FieldSpec


def compile_body(specs: list[FieldSpec], body_format: str
                 ) -> Callable[[Any], dict[str, Any]]:
    """The body fields of a message read together, in their order (the first bad one
    raises): tokens, JSON paths or XML paths."""
    if body_format == "xml" and all(s.token is None for s in specs):
        return compile_xml(specs)
    if body_format == "json" and all(s.token is None for s in specs):
        return compile_json(specs)
    getters = [(s.name, getter(s, body_format)) for s in specs]
    return lambda doc: {name: get(doc) for name, get in getters}


def compile_xml(specs: list[FieldSpec]) -> Callable[[ET.Element], dict[str, Any]]:
    """All XML fields of a message, each element on their paths found once per body."""
    plan = X.Plan()
    reads = [(s.name, *X.locate(s.path, plan), _text_cooker(s), s.optional,
              format_path(s.path)) for s in specs]

    def extract(root: ET.Element) -> dict[str, Any]:
        els = plan.elements(root)
        out = {}
        for name, slot, attr, find_path, cook, optional, where in reads:
            el = els[slot]
            if el is None and find_path:  # elements from other namespaces than the root's
                el = root.find(find_path)
            if el is None:
                value = None
            else:
                value = el.get(attr) if attr else (el.text or "").strip()
            if value is None:
                if not optional:
                    raise DecodeError("field", f"field '{name}': no '{where}' in the XML")
                out[name] = None
            else:
                out[name] = cook(value)
        return out

    return extract


def compile_json(specs: list[FieldSpec]) -> Callable[[Any], dict[str, Any]]:
    """All JSON fields of a message: ``json_getter``'s walk, without a call per field."""
    reads = [(s.name, s.path, _text_cooker(s), s.optional, format_path(s.path))
             for s in specs]

    def extract(doc: Any) -> dict[str, Any]:
        out = {}
        for name, path, cook, optional, where in reads:
            value = doc
            for step in path:
                if isinstance(step, int):
                    if not isinstance(value, list) or step >= len(value):
                        value = None
                        break
                elif not isinstance(value, dict) or step not in value:
                    value = None
                    break
                value = value[step]
            if value is None:
                if not optional:
                    raise DecodeError("field", f"field '{name}': no '{where}' in the JSON")
                out[name] = None
            else:
                out[name] = cook(value)
        return out

    return extract


_JSON_STARTS = (b"{", b"[")  # neither a BOM nor a NUL of UTF-16/32: json.loads sees UTF-8
_json_decode = json.JSONDecoder().decode  # json.loads' own decoder, without its checks


def parse_body(body_format: str, body: bytes, delimiter: str = ",") -> Any:
    """The body as tokens, a JSON value or an XML root element."""
    try:
        if body_format == "text":
            return body.decode("ascii").split(delimiter)
        if body_format == "json":
            if body[:1] in _JSON_STARTS and body[1:2] != b"\x00":
                # what json.loads(bytes) does when it detects UTF-8, without detecting
                return _json_decode(body.decode("utf-8", "surrogatepass"))
            return json.loads(body)
        if body_format == "xml":
            return X.parse(body)  # safely: see agent/profiles/xmlbody.py
    except DefusedXmlException as e:
        raise DecodeError("payload", f"the xml body has a DTD or entity, refused "
                                     f"({type(e).__name__})") from None
    except (ValueError, LookupError, ET.ParseError, RecursionError) as e:
        raise DecodeError("payload", f"the {body_format} body does not parse: "
                                     f"{str(e)[:80]}") from None
    raise DecodeError("payload", f"no body format {body_format!r}")
