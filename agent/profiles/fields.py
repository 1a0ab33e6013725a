"""Reading a field out of a message, and (for the simulator) writing one into it.

Each ``FieldSpec`` is compiled once into a getter. Binary getters read the unescaped frame
(or the Modbus register block); token getters read the split text body; path getters read
the parsed JSON or XML body. Every failure is a ``DecodeError('field' | 'payload', ...)``.
"""

from __future__ import annotations

import math
import struct
import xml.etree.ElementTree as ET
from collections.abc import Callable
from functools import partial
from typing import Any

from agent.profiles import xmlbody as X
from agent.profiles.errors import DecodeError
from agent.profiles.schema import BINARY_TYPES, FieldSpec

Getter = Callable[[Any], Any]
_MISSING = object()


def unknown(raw: Any) -> str:
    """The name of an enumerated value the profile does not list (a new fault code, say)."""
    return f"unknown_{raw}"


def _cooker(spec: FieldSpec) -> Callable[[Any], Any]:
    """raw value -> the value the profile talks about (bit, scale, enumeration)."""
    bit, scale, enum = spec.bit, spec.scale, spec.enum
    if bit is not None:
        return lambda raw: bool((raw >> bit) & 1)
    if enum is not None:
        get = enum.get
        return lambda raw: get(raw) or unknown(raw)
    if scale is not None:  # rounded: 239 * 0.1 is 23.9, not 23.900000000000002
        return lambda raw: round(raw * scale, 9)
    return lambda raw: raw


def binary_getter(spec: FieldSpec) -> Getter:
    st = struct.Struct(("<" if spec.endian == "little" else ">") + BINARY_TYPES[spec.type])
    offset, end, unpack, cook, name = spec.offset, spec.offset + st.size, st.unpack_from, \
        _cooker(spec), spec.name

    def get(frame: bytes) -> Any:
        if end > len(frame):
            if spec.optional:
                return None
            raise DecodeError("field", f"field '{name}' (bytes {offset}..{end - 1}) is beyond "
                                       f"the {len(frame)}-byte frame")
        return cook(unpack(frame, offset)[0])

    return get


def compile_binary(specs: list[FieldSpec]) -> Callable[[bytes], dict[str, Any]]:
    """All binary fields of a message read by one generated function: one ``unpack_from``
    for every field, then the bit/enum/scale of each inline. About three times faster than
    a getter per field, which matters on a gateway decoding thousands of frames a second.
    Frames too short for the fields fall back to the getters, for their error message."""
    slow = [(s.name, binary_getter(s)) for s in specs]

    def fallback(frame: bytes) -> dict[str, Any]:
        return {name: get(frame) for name, get in slow}

    if not specs:
        return lambda frame: {}
    endians = {s.endian for s in specs if BINARY_TYPES[s.type] not in "Bb"}
    slots: dict[tuple[int, str], int] = {}   # (offset, type) -> index in the unpacked tuple
    fmt, pos = "", 0
    for s in sorted(specs, key=lambda s: s.offset):
        key = (s.offset, s.type)
        if key in slots:
            continue
        if s.offset < pos or len(endians) > 1:  # overlapping or mixed byte order
            return fallback
        fmt += "x" * (s.offset - pos) + BINARY_TYPES[s.type]
        pos = s.offset + struct.calcsize("<" + BINARY_TYPES[s.type])
        slots[key] = len(slots)
    st = struct.Struct(("<" if endians == {"little"} else ">") + fmt)
    env: dict[str, Any] = {"unpack": st.unpack_from, "size": st.size, "fallback": fallback,
                           "unknown": unknown}
    items = []
    for i, s in enumerate(specs):
        raw = f"r[{slots[(s.offset, s.type)]}]"
        if s.bit is not None:
            expr = f"(({raw} >> {s.bit}) & 1) == 1"
        elif s.enum is not None:
            env[f"e{i}"] = s.enum
            expr = f"(e{i}.get({raw}) or unknown({raw}))"
        elif s.scale is not None:
            expr = f"round({raw} * {s.scale!r}, 9)"
        else:
            expr = raw
        items.append(f"{s.name!r}: {expr}")
    source = ("def extract(frame):\n"
              "    if len(frame) < size:\n"
              "        return fallback(frame)\n"
              "    r = unpack(frame, 0)\n"
              f"    return {{{', '.join(items)}}}\n")
    exec(compile(source, "<profile fields>", "exec"), env)  # names are checked identifiers
    return env["extract"]


def _convert_text(spec: FieldSpec, text: Any) -> Any:
    t = spec.type
    try:
        if t == "str":
            return str(text) if not isinstance(text, (dict, list)) else _bad(spec, text)
        if t == "bool":
            if isinstance(text, bool):
                return text
            s = str(text).strip().lower()
            if s in _TRUE:
                return True
            if s in _FALSE:
                return False
            return _bad(spec, text)
        if isinstance(text, bool) or isinstance(text, (dict, list)):
            return _bad(spec, text)
        if t == "int":
            return text if isinstance(text, int) else int(str(text).strip(), 10)
        if t == "hex":
            return int(str(text).strip(), 16)
        value = float(text)
        if not math.isfinite(value):
            return _bad(spec, text)
        return value
    except (ValueError, TypeError):
        return _bad(spec, text)


_TRUE, _FALSE = frozenset(("1", "true", "yes", "on")), frozenset(("0", "false", "no", "off"))


def _bad(spec: FieldSpec, text: Any):
    raise DecodeError("field", f"field '{spec.name}': {str(text)[:40]!r} is not a {spec.type}")


def _text_cooker(spec: FieldSpec) -> Callable[[Any], Any]:
    """text (or a JSON value) -> the field's value; plain strings take a short cut."""
    if spec.type == "str" and spec.enum is None:
        def plain(text: Any) -> Any:
            return text if type(text) is str else _convert_text(spec, text)
        return plain
    if spec.type == "str":
        get = spec.enum.get

        def named(text: Any) -> Any:
            if type(text) is not str:
                text = _convert_text(spec, text)
            return get(text) or unknown(text)
        return named
    cook = _cooker(spec)
    convert = partial(_convert_text, spec)
    if spec.type == "int":  # the usual case, text from XML or a token: straight to int()
        def convert(text: Any, slow=convert) -> Any:
            if type(text) is str:
                try:
                    return int(text.strip(), 10)
                except ValueError:
                    return _bad(spec, text)
            return slow(text)
    elif spec.type == "bool":
        def convert(text: Any, slow=convert) -> Any:
            if type(text) is str:
                s = text.strip().lower()
                if s in _TRUE:
                    return True
                if s in _FALSE:
                    return False
            return slow(text)
    if spec.bit is None and spec.enum is None and spec.scale is None:
        return convert
    return lambda text: cook(convert(text))


def token_getter(spec: FieldSpec) -> Getter:
    index, cook = spec.token, _text_cooker(spec)

    def get(tokens: list[str]) -> Any:
        if index >= len(tokens):
            if spec.optional:
                return None
            raise DecodeError("field", f"field '{spec.name}': the body has {len(tokens)} "
                                       f"tokens, no token {index}")
        return cook(tokens[index])

    return get


def _json_walk(doc: Any, path: tuple) -> Any:
    for step in path:
        if isinstance(step, int):
            if not isinstance(doc, list) or step >= len(doc):
                return _MISSING
        elif not isinstance(doc, dict) or step not in doc:
            return _MISSING
        doc = doc[step]
    return doc


def json_getter(spec: FieldSpec) -> Getter:
    path, cook, where = spec.path, _text_cooker(spec), format_path(spec.path)

    def get(doc: Any) -> Any:
        value = _json_walk(doc, path)
        if value is _MISSING or value is None:
            if spec.optional:
                return None
            raise DecodeError("field", f"field '{spec.name}': no '{where}' in the JSON")
        return cook(value)

    return get


def xml_getter(spec: FieldSpec) -> Getter:
    """One field of an XML body (a message's XML fields are read together by
    ``compile_xml``; this one serves matching and single reads)."""
    plan = X.Plan()
    read = X.field_reader(spec.path, plan)
    cook, where = _text_cooker(spec), format_path(spec.path)

    def get(root: ET.Element) -> Any:
        value = read(root, plan.elements(root))
        if value is None:
            if spec.optional:
                return None
            raise DecodeError("field", f"field '{spec.name}': no '{where}' in the XML")
        return cook(value)

    return get


def getter(spec: FieldSpec, body_format: str) -> Getter:
    if spec.offset is not None:
        return binary_getter(spec)
    if spec.token is not None:
        return token_getter(spec)
    return json_getter(spec) if body_format == "json" else xml_getter(spec)


def format_path(path: tuple) -> str:
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
    return out


def parse_path(text: str, sep: str) -> tuple[str | int, ...]:
    """``a.b[0].c`` (JSON) or ``a/b[0]/c`` (XML) -> ('a', 'b', 0, 'c')."""
    steps: list[str | int] = []
    for part in text.split(sep):
        name, _, rest = part.partition("[")
        if not name:
            raise ValueError(f"empty step in path {text!r}")
        steps.append(name)
        while rest:
            index, _, rest = rest.partition("]")
            steps.append(int(index))
            rest = rest.lstrip("[")
    return tuple(steps)


# --- writing fields (the simulator) ----------------------------------------------------------

def to_raw(spec: FieldSpec, value: Any) -> Any:
    """The inverse of reading: a profile value -> the raw value sent on the wire."""
    if spec.enum is not None and isinstance(value, str):
        for raw, name in spec.enum.items():
            if name == value:
                return raw
        if value.startswith("unknown_"):
            return _convert_text(spec, value[8:]) if spec.offset is None else int(value[8:])
        raise ValueError(f"field '{spec.name}' has no value named {value!r}")
    if spec.bit is not None:
        return 1 if value else 0
    if spec.scale is not None and value is not None:
        raw = value / spec.scale
        return round(raw) if spec.type not in ("f32", "float") else raw
    return value


def write_binary(spec: FieldSpec, frame: bytearray, value: Any) -> None:
    st = struct.Struct(("<" if spec.endian == "little" else ">") + BINARY_TYPES[spec.type])
    raw = to_raw(spec, value)
    if spec.bit is not None:
        (current,) = st.unpack_from(frame, spec.offset)
        raw = (current | (1 << spec.bit)) if raw else (current & ~(1 << spec.bit))
    st.pack_into(frame, spec.offset, raw)


def text_of(spec: FieldSpec, value: Any) -> str:
    raw = to_raw(spec, value)
    if isinstance(raw, bool):
        return "1" if raw else "0"
    if spec.type == "hex":
        return format(int(raw), f"0{spec.width or 1}X")
    if spec.type == "int" and spec.width:
        return format(int(raw), f"0{spec.width}d")
    return str(raw)


def write_json(spec: FieldSpec, doc: Any, value: Any) -> None:
    raw = to_raw(spec, value)
    *parents, last = spec.path
    for step in parents:
        doc = doc[step]
    doc[last] = raw


def write_xml(spec: FieldSpec, root: ET.Element, value: Any) -> None:
    X.set_text(root, spec.path, text_of(spec, value))
