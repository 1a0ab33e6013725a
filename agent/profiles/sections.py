"""The message, rule and golden-vector tables of a profile file, and the small readers
the loader uses on top of ``conf.Section``. Errors name the file and the key."""

from __future__ import annotations

import re
from typing import Any

from agent.profiles import fields as F
from agent.profiles.schema import (
    BINARY_TYPES,
    FORMATS,
    FRAMED,
    MODBUS,
    MODBUS_FUNCTIONS,
    SEVERITIES,
    TEXT_TYPES,
    FieldSpec,
    Golden,
    Message,
    Rule,
)
from parkwatch.core.conf import Section

CODE = re.compile(r"^[a-z][a-z0-9_]*$")

# --- small readers on top of conf.Section -----------------------------------------------------

def read_bytes(s: Section, key: str, default: bytes | None = None) -> bytes | None:
    """``key`` as hex ("5B 01 FF") or ``key_text`` as text ("$", "\\r\\n")."""
    return read_hex_text(s, key, f"{key}_text", default)


def read_hex_text(s: Section, hex_key: str, text_key: str, default: bytes | None) -> bytes | None:
    """Hex bytes, text (UTF-8), or both: the hex (a binary header, say) then the text."""
    raw, text = s.str(hex_key, None), s.str(text_key, None)
    if raw is None and text is None:
        return default
    try:
        head = bytes.fromhex(raw) if raw is not None else b""
    except ValueError:
        raise s.error(hex_key, f"must be hex bytes like \"5B 01 FF\", got {raw!r}") from None
    try:
        return head + (text.encode("utf-8") if text is not None else b"")
    except UnicodeEncodeError:
        raise s.error(text_key, "is not encodable text") from None


def read_scalar(s: Section, key: str, default: Any = None) -> Any:
    value = s._raw(key, default)
    if value is not default and not isinstance(value, (str, int, float, bool)):
        raise s.error(key, f"must be a string, number or boolean, got {value!r}")
    return value


def read_scalars(s: Section, key: str) -> tuple | None:
    value = s._raw(key, None)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float, bool))
                                              for v in value):
        raise s.error(key, "must be a list of strings, numbers or booleans")
    return tuple(value)


def read_expanded(sections: list[Section], counted: tuple[str, ...]) -> list[tuple[Section, int]]:
    """``repeat = N`` makes N copies; ``{n}`` (1..N) is put into strings, and the keys in
    ``counted`` advance by ``stride`` per copy."""
    out = []
    for s in sections:
        repeat = s.int("repeat", 1, minimum=1)
        stride = s.int("stride", 1)
        if repeat == 1:
            out.append((s, 0))
            continue
        for i in range(repeat):
            data = {}
            for k, v in s.data.items():
                if k in ("repeat", "stride"):
                    continue
                if isinstance(v, str):
                    v = v.replace("{n}", str(i + 1))
                elif k in counted and isinstance(v, int) and not isinstance(v, bool):
                    v = v + i * stride
                data[k] = v
            out.append((Section(data, s.file, f"{s.prefix[:-1]}#{i + 1}."), i))
        s._seen.update(s.data)  # the copies check the keys
    return out


# --- messages, rules, golden vectors -------------------------------------------------------

def read_field(s: Section, msg_format: str, register_base: int | None) -> FieldSpec:
    name = s.str("name")
    if not CODE.match(name):
        raise s.error("name", "must be lower_snake_case")
    locs = [k for k in ("offset", "token", "path", "register") if k in s.data]
    if len(locs) != 1:
        raise s.error("name", f"field '{name}' needs exactly one of offset, token, path, "
                              "register")
    loc = locs[0]
    offset = token = path = None
    if loc == "register":
        if register_base is None:
            raise s.error("register", "only Modbus replies have registers")
        reg = s.int("register", minimum=0)
        if reg < register_base:
            raise s.error("register", f"register {reg} is before the request's first register "
                                      f"{register_base}")
        offset = (reg - register_base) * 2
    elif loc == "offset":
        offset = s.int("offset", minimum=0)
    elif loc == "token":
        token = s.int("token", minimum=0)
    else:
        if msg_format not in ("json", "xml"):
            raise s.error("path", "paths read JSON or XML bodies; this message is "
                                  f"{msg_format}")
        try:
            path = F.parse_path(s.str("path"), "." if msg_format == "json" else "/")
        except ValueError as e:
            raise s.error("path", str(e)) from None
    binary = offset is not None
    types = tuple(BINARY_TYPES) if binary else TEXT_TYPES
    ftype = s.choice("type", types, "u16" if loc == "register" else ("u8" if binary else "str"))
    bit = s.int("bit", None, minimum=0)
    if bit is not None and (ftype not in ("u8", "u16", "u32", "int", "hex")
                            or bit >= (8 * {"u8": 1, "u16": 2}.get(ftype, 4))):
        raise s.error("bit", f"bit {bit} does not fit a {ftype}")
    scale = s.number("scale", None)
    enum = None
    if "enum" in s.data:
        raw = s.table("enum").data
        enum = {}
        for k, v in raw.items():
            if not isinstance(v, str) or not CODE.match(v):
                raise s.error(f"enum.{k}", "names must be lower_snake_case strings")
            try:
                key = int(k, 0) if ftype not in ("str",) else k
            except ValueError:
                raise s.error(f"enum.{k}", f"{k!r} is not a {ftype} value") from None
            enum[key] = v
    if sum(x is not None for x in (bit, scale, enum)) > 1:
        raise s.error("name", f"field '{name}': use one of bit, scale, enum")
    spec = FieldSpec(name, offset, token, path, ftype, s.choice("endian", ("big", "little"),
                     "big"), bit, scale, enum, s.int("width", None, minimum=1),
                     s.bool("optional", False))
    return spec


def read_fields(s: Section, key: str, msg_format: str,
                register_base: int | None) -> list[FieldSpec]:
    out: list[FieldSpec] = []
    for fs, _ in read_expanded(s.tables(key, optional=True), ("offset", "token", "register")):
        spec = read_field(fs, msg_format, register_base)
        fs.done()
        if any(f.name == spec.name for f in out):
            raise fs.error("name", f"field '{spec.name}' is defined twice")
        out.append(spec)
    return out


def read_message(s: Section, name: str, role: str, kind: str, requests: dict | None) -> Message:
    fmt = s.choice("format", FORMATS, "xml" if kind == "http" else "binary")
    extra: dict[str, Any] = {}
    register_base = None
    if role == "reply":
        answers = s.str("answers", None)
        if answers is not None and answers not in (requests or {}):
            raise s.error("answers", f"no request named {answers!r}")
        if kind in MODBUS or kind == "http":
            if answers is None:
                raise s.error("answers", "is missing (the request this reply answers)")
            if kind in MODBUS:
                register_base = requests[answers].address
        extra["answers"] = answers
        push = s.number("push_every_s", None, positive=True)
        extra["push_every_s"] = push
    elif kind == "http":
        extra["method"] = s.choice("method", ("GET", "POST"), "GET")
        extra["path"] = s.str("path")
        if not extra["path"].startswith("/"):
            raise s.error("path", "must start with '/'")
    elif kind in MODBUS:
        extra["function"] = s.choice("function", MODBUS_FUNCTIONS)
        extra["address"] = s.int("address", 0, minimum=0)
        extra["count"] = s.int("count", minimum=1)
        if extra["count"] > 125:
            raise s.error("count", "Modbus reads at most 125 registers")
    sample = read_bytes(s, "sample", b"")
    if role == "reply" or kind in FRAMED:
        if not sample:
            raise s.error("sample", "is missing (a complete, healthy example of the message)")
    fields = read_fields(s, "fields", fmt, register_base)
    match = ()
    if "match" in s.data:
        m = s.table("match")
        for k in m.data:
            if not any(f.name == k for f in fields):
                raise m.error(k, f"is not a field of '{name}'")
            match += ((k, read_scalar(m, k)),)
        m.done()
    s.done()
    return Message(name, role, fmt, sample, tuple(fields), match, **extra)


def read_rules(top: Section) -> list[Rule]:
    state = top.table("state", optional=True)
    rules: list[Rule] = []
    for kind in ("fault", "occupied", "intercom"):
        for s, _ in read_expanded(state.tables(kind, optional=True), ()):
            conditions = [k for k in ("equals", "in", "not_in") if k in s.data]
            if len(conditions) != 1:
                raise s.error("field", "a rule needs exactly one of equals, in, not_in")
            code = s.str("code", None) if kind == "fault" else None
            if code is not None and not CODE.match(code):
                raise s.error("code", "fault codes are lower_snake_case")
            severities = {}
            if kind == "fault" and "severities" in s.data:
                for c, sev in s.table("severities").data.items():
                    if sev not in SEVERITIES:
                        raise s.error(f"severities.{c}", f"must be one of {', '.join(SEVERITIES)}")
                    severities[c] = sev
            rules.append(Rule(
                kind, s.str("field"), read_scalar(s, "equals"), read_scalars(s, "in"),
                read_scalars(s, "not_in"), code,
                s.choice("severity", SEVERITIES, "major") if kind == "fault" else "major",
                severities, s.str("channel", None)))
            s.done()
    state.done()
    return rules


def read_golden(top: Section) -> list[Golden]:
    out = []
    for s in top.tables("golden", optional=True):
        data = read_hex_text(s, "hex", "text", None)
        if data is None:
            raise s.error("hex", "a golden vector needs 'hex' or 'text'")
        fields = s.table("fields", optional=True).data
        occupied = s.strs("occupied", None)
        out.append(Golden(
            name=s.str("name"), data=data, reply=s.str("reply", None), fields=dict(fields),
            state=s.choice("state", ("ok", "fault", "occupied"), None),
            fault=s.str("fault", None), severity=s.choice("severity", SEVERITIES, None),
            occupied=tuple(occupied) if occupied is not None else None,
            intercom=s.bool("intercom", None), error=s.str("error", None)))
        s.done()
    return out
