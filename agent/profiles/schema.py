"""What a firmware profile says, as frozen dataclasses. ``loader`` builds them from TOML and
validates them; everything else in the engine only reads them."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from parkwatch.core.wire import (
    SEVERITIES as SEVERITIES,  # the same words on the wire as in every profile
)

TRANSPORTS = ("serial", "tcp", "http", "modbus_rtu", "modbus_tcp")
FRAMED = ("serial", "tcp")            # raw protocols: the profile describes the framing
MODBUS = ("modbus_rtu", "modbus_tcp")  # pymodbus frames them
DEVICE_CLASSES = ("barrier", "loop", "camera")
SOURCES = ("vendor", "synthetic")
FORMATS = ("binary", "text", "json", "xml")
BINARY_TYPES = {"u8": "B", "i8": "b", "u16": "H", "i16": "h", "u32": "I", "i32": "i",
                "f32": "f"}
TEXT_TYPES = ("str", "int", "hex", "float", "bool")
MODBUS_FUNCTIONS = ("read_holding_registers", "read_input_registers")


@dataclass(frozen=True)
class Identity:
    id: str
    vendor: str
    model: str
    firmware: tuple[str, ...]
    device_class: str
    source: str
    reference: str = ""
    notes: str = ""


@dataclass(frozen=True)
class Transport:
    kind: str
    baud: int = 9600
    parity: str = "N"          # pyserial's letters: N, E, O
    stop_bits: int = 1
    data_bits: int = 8
    port: int | None = None    # default TCP port for tcp / http / modbus_tcp
    multidrop: bool = False    # several devices share one RS485 bus, told apart by address


@dataclass(frozen=True)
class Behaviour:
    poll_interval_s: float = 1.0
    timeout_s: float = 0.5
    retries: int = 0
    offline_after: int = 3


@dataclass(frozen=True)
class FieldSpec:
    """Where a value sits and how to read it.

    Exactly one location: ``offset`` (bytes into the unescaped frame, or into the register
    block for Modbus), ``token`` (index into the delimited text body) or ``path`` (JSON keys
    or XML elements below the root; ``@name`` as last step reads an attribute).
    """

    name: str
    offset: int | None = None
    token: int | None = None
    path: tuple[str | int, ...] | None = None
    type: str = "u8"
    endian: str = "big"
    bit: int | None = None
    scale: float | None = None
    enum: dict[Any, str] | None = None
    width: int | None = None   # zero-padded width when the simulator writes a text number
    optional: bool = False

    @property
    def location(self) -> str:
        return "offset" if self.offset is not None else (
            "token" if self.token is not None else "path")


@dataclass(frozen=True)
class Escape:
    byte: int
    xor: int
    special: bytes   # bytes that must be escaped inside a frame (always includes ``byte``)


@dataclass(frozen=True)
class Length:
    offset: int
    size: int
    endian: str = "big"
    counts: str = "data"   # data | rest | frame: see docs/profiles.md
    adjust: int = 0


@dataclass(frozen=True)
class Checksum:
    algorithm: str
    start: int = 0            # first covered byte (offset into the unescaped frame)
    size: int = 1
    endian: str = "big"
    encoding: str = "binary"  # binary | hex (ASCII hex digits, two per byte)
    prefix: bytes = b""       # a literal between the covered bytes and the checksum (b"*")


@dataclass(frozen=True)
class Framing:
    start: bytes
    end: bytes = b""
    escape: Escape | None = None
    fixed: int | None = None
    length: Length | None = None
    checksum: Checksum | None = None
    body_start: int | None = None  # where a text/JSON/XML body begins (default: after start)
    delimiter: str = ","           # between the tokens of a text body
    max_length: int = 1024

    @cached_property
    def trailer(self) -> int:
        """Bytes after the body: checksum prefix, checksum, end."""
        cs = self.checksum
        size = 0 if cs is None else len(cs.prefix) + cs.size * (2 if cs.encoding == "hex" else 1)
        return size + len(self.end)

    @cached_property
    def min_length(self) -> int:
        return self.fixed or (len(self.start) + self.trailer)


@dataclass(frozen=True)
class Message:
    """A request the agent sends or a reply it decodes (the simulator does the reverse)."""

    name: str
    role: str                           # request | reply
    format: str = "binary"
    sample: bytes = b""                 # a complete, healthy example; the simulator patches it
    fields: tuple[FieldSpec, ...] = ()
    match: tuple[tuple[str, Any], ...] = ()   # field values that identify this message
    answers: str | None = None          # reply: the request it answers
    method: str = "GET"                 # http requests
    path: str = ""                      # http requests
    function: str = ""                  # modbus requests
    address: int = 0                    # modbus requests: first register
    count: int = 0                      # modbus requests: registers
    push_every_s: float | None = None   # reply the device sends unasked (a heartbeat)

    def field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)


@dataclass(frozen=True)
class Rule:
    """``field`` meeting the condition means a fault, a vehicle on a loop or a call button."""

    kind: str                       # fault | occupied | intercom
    field: str
    equals: Any = None
    within: tuple | None = None     # ``in`` in the file
    not_within: tuple | None = None  # ``not_in`` in the file
    code: str | None = None         # fault code; default: the field's (enumerated) value
    severity: str = "major"
    severities: dict[str, str] = field(default_factory=dict)
    channel: str | None = None

    def holds(self, value: Any) -> bool:
        if self.within is not None:
            return value in self.within
        if self.not_within is not None:
            return value not in self.not_within
        return value == self.equals


@dataclass(frozen=True)
class Golden:
    name: str
    data: bytes
    reply: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    state: str | None = None
    fault: str | None = None
    severity: str | None = None
    occupied: tuple[str, ...] | None = None
    intercom: bool | None = None
    error: str | None = None        # expected DecodeError kind


@dataclass(frozen=True)
class Profile:
    path: Path
    identity: Identity
    transport: Transport
    behaviour: Behaviour
    requests: dict[str, Message]
    replies: dict[str, Message]
    poll: tuple[str, ...]              # requests sent on every poll, in order
    rules: tuple[Rule, ...] = ()
    golden: tuple[Golden, ...] = ()
    framing: Framing | None = None          # replies (and requests, unless overridden)
    request_framing: Framing | None = None
    address: FieldSpec | None = None        # the bus address inside frames, if any

    @property
    def id(self) -> str:
        return self.identity.id

    @property
    def kind(self) -> str:
        return self.transport.kind

    def fault_codes(self) -> list[str]:
        """Every fault code this profile can report, in rule order."""
        codes: list[str] = []
        for rule in self.rules:
            if rule.kind != "fault":
                continue
            if rule.code:
                candidates = [rule.code]
            else:
                spec = self.field_spec(rule.field)
                names = list(spec.enum.values()) if spec and spec.enum else []
                candidates = [n for n in names if rule.holds(n)]
            codes += [c for c in candidates if c not in codes]
        return codes

    def field_spec(self, name: str) -> FieldSpec | None:
        for reply in self.replies.values():
            spec = reply.field(name)
            if spec is not None:
                return spec
        return None

    def channels(self, kind: str) -> list[str | None]:
        return list(dict.fromkeys(r.channel for r in self.rules if r.kind == kind))
