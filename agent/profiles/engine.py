"""One generic codec, driven by a profile: requests out, replies in, fields and a state out.

The agent uses ``request``/``decode_*``/``reading``; the simulator uses ``parse_request`` and
``encode_reply``. Every decode either returns a ``Decoded`` or raises ``DecodeError``; the
frame check (``framing.unframe``, or the Modbus CRC-16) always runs before any field is read, so
no state ever comes from a frame whose checksum fails.
"""

from __future__ import annotations

import json
import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

import defusedxml.ElementTree as SafeET

from agent.profiles import bodies as B
from agent.profiles import fields as F
from agent.profiles import framing
from agent.profiles.errors import DecodeError
from agent.profiles.schema import FRAMED, MODBUS, FieldSpec, Framing, Message, Profile
from agent.profiles.state import Reading, compile_rules
from parkwatch.core.jsonenc import compact


@dataclass(frozen=True)
class Decoded:
    reply: str
    address: int | None
    fields: dict[str, Any]


def _decoded(reply: str, address: int | None, fields: dict[str, Any]) -> Decoded:
    """``Decoded(reply, address, fields)`` without the frozen ``__init__``'s guarded writes,
    a sizeable part of decoding a short frame."""
    d = object.__new__(Decoded)
    vars(d).update(reply=reply, address=address, fields=fields)
    return d


class _Ctx:
    """One unescaped frame and its body, parsed at most once and only if a field needs it."""

    __slots__ = ("frame", "span", "delimiter", "_docs")

    def __init__(self, frame: bytes, span: tuple[int, int], delimiter: str = ","):
        self.frame, self.span, self.delimiter, self._docs = frame, span, delimiter, {}

    def doc(self, fmt: str) -> Any:
        doc = self._docs.get(fmt)
        if doc is None:
            a, b = self.span
            doc = self._docs[fmt] = B.parse_body(fmt, self.frame[a:b], self.delimiter)
        return doc


class _Compiled:
    def __init__(self, msg: Message):
        self.msg, self.name = msg, msg.name
        self.binary_specs = [f for f in msg.fields if f.offset is not None]
        self.binary = F.compile_binary(self.binary_specs)
        body = [f for f in msg.fields if f.offset is None]
        self.body_format = "text" if any(f.token is not None for f in msg.fields) \
            else msg.format
        self.body = B.compile_body(body, self.body_format) if body else None
        self.match = [(F.getter(msg.field(name), msg.format), msg.field(name).offset is None,
                       value) for name, value in msg.match]

    def matches(self, ctx: _Ctx) -> bool:
        try:
            for get, in_body, value in self.match:
                if get(ctx.doc(self.body_format) if in_body else ctx.frame) != value:
                    return False
        except DecodeError:
            return False
        return True

    def extract_body(self, body: bytes) -> dict[str, Any]:
        """``extract`` of a whole HTTP body, without a context: nothing else reads it."""
        if self.body is None:
            return self.binary(body)
        if not self.binary_specs:
            return self.body(B.parse_body(self.body_format, body))
        out = self.binary(body)  # first, as in ``extract``: its error comes first
        out.update(self.body(B.parse_body(self.body_format, body)))
        return out

    def extract(self, ctx: _Ctx) -> dict[str, Any]:
        out = self.binary(ctx.frame)
        if self.body is not None:
            out.update(self.body(ctx.doc(self.body_format)))
        return out


class Codec:
    def __init__(self, profile: Profile):
        self.profile = profile
        self.kind = profile.kind
        self.framing: Framing | None = profile.framing
        self.request_framing: Framing | None = profile.request_framing or profile.framing
        self._replies = {n: _Compiled(m) for n, m in profile.replies.items()}
        self._requests = {n: _Compiled(m) for n, m in profile.requests.items()}
        self._matchable = [c for c in self._replies.values() if c.match] or \
            list(self._replies.values())
        addr = profile.address
        self._address = None if addr is None else (
            addr, F.getter(addr, "text" if addr.token is not None else "binary"))
        self._templates: dict[str, bytes] = {}
        self._modbus_replies = self._index_modbus_replies() if self.kind in MODBUS else {}
        self._evaluate = compile_rules(profile.rules)

    # --- agent side -------------------------------------------------------------------------

    def decode(self, data: bytes, reply: str | None = None) -> Decoded:
        """A captured reply: a raw frame, a Modbus ADU or an HTTP body."""
        if self.kind in FRAMED:
            return self.decode_frame(data, reply)
        if self.kind in MODBUS:
            return self.decode_adu(data, reply)
        return self.decode_body(data, reply)

    def decode_frame(self, frame: bytes, reply: str | None = None) -> Decoded:
        fr = self.framing
        unescaped = framing.unframe(fr, frame)
        ctx = _Ctx(unescaped, framing.body_span(fr, len(unescaped)), fr.delimiter)
        if reply is not None:
            compiled = self._replies[reply]
            if not compiled.matches(ctx):
                raise DecodeError("unknown", f"frame is not a '{reply}' reply")
        else:
            compiled = next((c for c in self._matchable if c.matches(ctx)), None)
            if compiled is None:
                raise DecodeError("unknown", "frame matches no reply of the profile")
        return _decoded(compiled.name, self._read_address(ctx), compiled.extract(ctx))

    def decode_body(self, body: bytes, reply: str | None = None) -> Decoded:
        """An HTTP body; without ``reply``, the first reply whose fields all read wins."""
        if reply is not None:
            return _decoded(reply, None, self._replies[reply].extract_body(body))
        error: DecodeError | None = None
        for name in self._replies:
            ctx = _Ctx(body, (0, len(body)))
            try:
                return Decoded(name, None, self._replies[name].extract(ctx))
            except DecodeError as e:
                error = error or e
        raise error or DecodeError("unknown", "the profile has no replies")

    def decode_adu(self, adu: bytes, reply: str | None = None) -> Decoded:
        from agent.profiles import modbus

        function_code, registers, unit = modbus.read_registers(self.kind, adu)
        name = reply or self._modbus_reply(function_code, len(registers))
        return self.decode_registers(name, registers, unit)

    def decode_registers(self, reply: str, registers, unit: int | None = None) -> Decoded:
        compiled = self._replies[reply]
        data = struct.pack(f">{len(registers)}H", *registers)
        return _decoded(reply, unit, compiled.binary(data) if compiled.body is None
                        else compiled.extract_body(data))

    def _modbus_reply(self, function_code: int, count: int) -> str:
        name = self._modbus_replies.get((function_code, count))
        if name is None:
            raise DecodeError("unknown", f"no reply of the profile reads {count} registers "
                                         f"with function {function_code}")
        return name

    def _index_modbus_replies(self) -> dict[tuple[int, int], str]:
        from agent.profiles import modbus

        index = {}
        for name, msg in self.profile.replies.items():
            req = self.profile.requests.get(msg.answers or "")
            if req:
                index[(modbus.FUNCTIONS[req.function][0].function_code, req.count)] = name
        return index

    def _read_address(self, ctx: _Ctx) -> int | None:
        if self._address is None:
            return None
        spec, get = self._address
        return get(ctx.doc("text") if spec.token is not None else ctx.frame)

    def reading(self, fields: dict[str, Any]) -> Reading:
        return self._evaluate(fields)

    def request(self, name: str, address: int | None = None) -> bytes:
        """A raw request frame (framed profiles) or ADU (Modbus) for the device at ``address``."""
        msg = self.profile.requests[name]
        if self.kind in MODBUS:
            from agent.profiles import modbus

            return modbus.build_request(self.kind, msg.function, msg.address, msg.count,
                                        address if address is not None else 1)
        if self.kind not in FRAMED:
            raise ValueError(f"{self.kind} requests are not frames")
        return self._encode(msg, self.request_framing, {}, address)

    # --- simulator side -----------------------------------------------------------------------

    def parse_request(self, frame: bytes) -> tuple[str, int | None]:
        fr = self.request_framing
        unescaped = framing.unframe(fr, frame)
        ctx = _Ctx(unescaped, framing.body_span(fr, len(unescaped)), fr.delimiter)
        for compiled in self._requests.values():
            if compiled.matches(ctx):
                return compiled.name, self._read_address(ctx)
        raise DecodeError("unknown", "frame matches no request of the profile")

    def baseline(self, reply: str) -> dict[str, Any]:
        """The field values of the reply's sample: the healthy device the simulator starts as."""
        msg = self.profile.replies[reply]
        if self.kind in FRAMED:
            return self.decode_frame(msg.sample, reply).fields
        if self.kind in MODBUS:
            return self.decode_adu(msg.sample, reply).fields
        return self.decode_body(msg.sample, reply).fields

    def encode_reply(self, reply: str, values: dict[str, Any], address: int | None = None,
                     tid: int = 0) -> bytes:
        """The reply's sample with ``values`` written in: a frame, an ADU or an HTTP body."""
        msg = self.profile.replies[reply]
        if self.kind in FRAMED:
            return self._encode(msg, self.framing, values, address)
        if self.kind in MODBUS:
            from agent.profiles import modbus

            pdu = modbus.parse_response(self.kind, msg.sample)
            block = bytearray(modbus.registers_to_bytes(pdu.registers))
            for spec in msg.fields:
                if values.get(spec.name) is not None:
                    F.write_binary(spec, block, values[spec.name])
            req = self.profile.requests[msg.answers]
            return modbus.build_response(self.kind, req.function,
                                         modbus.bytes_to_registers(bytes(block)),
                                         address if address is not None else pdu.dev_id, tid)
        return self._write_body(msg, msg.sample, values)

    def _template(self, msg: Message, fr: Framing) -> bytes:
        key = f"{msg.role}:{msg.name}"
        if key not in self._templates:
            self._templates[key] = framing.unframe(fr, msg.sample)
        return self._templates[key]

    def _encode(self, msg: Message, fr: Framing, values: dict[str, Any],
                address: int | None) -> bytes:
        frame = bytearray(self._template(msg, fr))
        specs: list[tuple[FieldSpec, Any]] = [(s, values[s.name]) for s in msg.fields
                                              if values.get(s.name) is not None]
        if address is not None and self.profile.address is not None:
            specs.append((self.profile.address, address))
        for spec, value in specs:
            if spec.offset is not None:
                F.write_binary(spec, frame, value)
        body_specs = [(s, v) for s, v in specs if s.offset is None]
        if body_specs:
            a, b = framing.body_span(fr, len(frame))
            body = self._write_body(msg, bytes(frame[a:b]), dict(
                (s.name, v) for s, v in body_specs), fr.delimiter, body_specs)
            frame[a:b] = body
        return framing.build(fr, bytes(frame))

    def _write_body(self, msg: Message, body: bytes, values: dict[str, Any],
                    delimiter: str = ",", specs=None) -> bytes:
        specs = specs or [(s, values[s.name]) for s in msg.fields
                          if values.get(s.name) is not None]  # absent optional fields stay out
        if not specs:
            return body
        if any(s.token is not None for s, _ in specs):
            tokens = body.decode("ascii").split(delimiter)
            for spec, value in specs:
                tokens[spec.token] = F.text_of(spec, value)
            return delimiter.join(tokens).encode("ascii")
        if msg.format == "json":
            doc = json.loads(body)
            for spec, value in specs:
                F.write_json(spec, doc, value)
            return compact(doc)
        root = SafeET.fromstring(body, forbid_dtd=True)  # the profile's sample: no DTDs
        if root.tag.startswith("{"):
            ET.register_namespace("", root.tag[1:].split("}", 1)[0])
        for spec, value in specs:
            F.write_xml(spec, root, value)
        return ET.tostring(root, encoding="UTF-8", xml_declaration=True)
