"""Firmware profile files (TOML) -> ``Profile``, with errors that name the file and the key.

``load`` reads and validates one file; ``resolve`` turns a profile name from an agent config
into a file (``firmware_profiles/<name>.toml``) or takes a path as it is.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from agent.conf import Section, load_toml
from agent.profiles import fields as F
from agent.profiles.checksums import ALGORITHMS
from agent.profiles.errors import ProfileError
from agent.profiles.schema import (
    BINARY_TYPES,
    DEVICE_CLASSES,
    FORMATS,
    FRAMED,
    MODBUS,
    MODBUS_FUNCTIONS,
    SEVERITIES,
    SOURCES,
    TEXT_TYPES,
    TRANSPORTS,
    Behaviour,
    Checksum,
    Escape,
    FieldSpec,
    Framing,
    Golden,
    Identity,
    Length,
    Message,
    Profile,
    Rule,
    Transport,
)

FORMAT_VERSION = 1
_CODE = re.compile(r"^[a-z][a-z0-9_]*$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
PARITIES = {"none": "N", "even": "E", "odd": "O"}
DEFAULT_PORTS = {"tcp": None, "http": 80, "modbus_tcp": 502}


def profile_dirs() -> list[Path]:
    try:
        import firmware_profiles

        return [Path(firmware_profiles.__file__).parent]
    except ImportError:  # pragma: no cover - running from a bare checkout
        return [Path(__file__).resolve().parents[2] / "firmware_profiles"]


def available() -> list[str]:
    return sorted(p.stem for d in profile_dirs() for p in d.glob("*.toml"))


def resolve(ref: str, base: Path | None = None) -> Path:
    """A profile name (``bg-5b-xor``) or a path to a .toml file (relative to ``base``)."""
    if ref.endswith(".toml") or "/" in ref:
        path = Path(ref)
        return path if path.is_absolute() or base is None else base / path
    for d in profile_dirs():
        if (d / f"{ref}.toml").exists():
            return d / f"{ref}.toml"
    raise FileNotFoundError(f"no profile named {ref!r} (shipped: {', '.join(available())})")


@lru_cache(maxsize=64)
def _load_cached(path: Path, mtime: float) -> Profile:
    return _build(load_toml(path), path)


def load(path: str | Path) -> Profile:
    path = Path(path).resolve()
    try:
        mtime = path.stat().st_mtime
    except OSError:
        raise ProfileError(path, "", "no such file") from None
    return _load_cached(path, mtime)


# --- small readers on top of conf.Section -----------------------------------------------------

def _bytes(s: Section, key: str, default: bytes | None = None) -> bytes | None:
    """``key`` as hex ("5B 01 FF") or ``key_text`` as text ("$", "\\r\\n")."""
    return _hex_text(s, key, f"{key}_text", default)


def _hex_text(s: Section, hex_key: str, text_key: str, default: bytes | None) -> bytes | None:
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


def _value(s: Section, key: str, default: Any = None) -> Any:
    value = s._raw(key, default)
    if value is not default and not isinstance(value, (str, int, float, bool)):
        raise s.error(key, f"must be a string, number or boolean, got {value!r}")
    return value


def _values(s: Section, key: str) -> tuple | None:
    value = s._raw(key, None)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float, bool))
                                              for v in value):
        raise s.error(key, "must be a list of strings, numbers or booleans")
    return tuple(value)


def _expand(sections: list[Section], counted: tuple[str, ...]) -> list[tuple[Section, int]]:
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


# --- the parts of a profile ---------------------------------------------------------------------

def _identity(top: Section) -> Identity:
    s = top.table("identity")
    ident = s.str("id")
    if not _ID.match(ident):
        raise s.error("id", "must be 1-64 letters, digits, '_', '.' or '-'")
    source = s.choice("source", SOURCES)
    reference = s.str("reference", "")
    if source == "vendor" and not reference:
        raise s.error("reference", "a vendor-documented profile must cite its document")
    firmware = s.strs("firmware")
    if not firmware:
        raise s.error("firmware", "must list at least one firmware version (patterns: 2.*)")
    out = Identity(ident, s.str("vendor"), s.str("model"), tuple(firmware),
                   s.choice("class", DEVICE_CLASSES), source, reference, s.str("notes", ""))
    s.done()
    return out


def _transport(top: Section) -> Transport:
    s = top.table("transport")
    kind = s.choice("kind", TRANSPORTS)
    serial = kind in ("serial", "modbus_rtu")
    t = Transport(
        kind=kind,
        baud=s.int("baud", 9600, minimum=300) if serial else 9600,
        parity=PARITIES[s.choice("parity", tuple(PARITIES), "none")] if serial else "N",
        stop_bits=s.int("stop_bits", 1, minimum=1) if serial else 1,
        data_bits=s.int("data_bits", 8, minimum=5) if serial else 8,
        port=None if serial else s.int("port", DEFAULT_PORTS[kind], minimum=1),
        multidrop=s.bool("multidrop", False) if serial else False)
    if serial and t.stop_bits > 2:
        raise s.error("stop_bits", "must be 1 or 2")
    s.done()
    return t


def _behaviour(top: Section) -> Behaviour:
    s = top.table("behaviour", optional=True)
    b = Behaviour(s.number("poll_interval_s", 1.0, positive=True),
                  s.number("timeout_s", 0.5, positive=True),
                  s.int("retries", 0, minimum=0), s.int("offline_after", 3, minimum=1))
    s.done()
    return b


def _framing(s: Section, base: Framing | None = None) -> Framing:
    start = _bytes(s, "start", base.start if base else None)
    if not start:
        raise s.error("start", "is missing (the byte(s) every frame starts with)")
    end = _bytes(s, "end", base.end if base else b"")
    esc = base.escape if base else None
    if "escape" in s.data:
        e = s.table("escape")
        byte, special = _bytes(e, "byte"), e.strs("special")
        if byte is None or len(byte) != 1:
            raise e.error("byte", "must be one hex byte")
        try:
            special_bytes = bytes.fromhex("".join(special))
        except ValueError:
            raise e.error("special", "must be hex bytes") from None
        esc = Escape(byte[0], e.int("xor", 0x20, minimum=0), special_bytes + byte)
        e.done()
    fixed = s.int("fixed_length", base.fixed if base else None, minimum=1)
    length = base.length if base and fixed is None else None
    if "length" in s.data:
        ln = s.table("length")
        length = Length(ln.int("offset", minimum=0), ln.int("size", minimum=1),
                        ln.choice("endian", ("big", "little"), "big"),
                        ln.choice("counts", ("data", "rest", "frame"), "data"),
                        ln.int("adjust", 0))
        ln.done()
    cs = base.checksum if base else None
    if "checksum" in s.data:
        c = s.table("checksum")
        algo = c.choice("algorithm", tuple(ALGORITHMS) + ("none",))
        if algo == "none":
            cs = None
        else:
            a = ALGORITHMS[algo]
            cs = Checksum(algo, c.int("start", 0, minimum=0), a.size,
                          c.choice("endian", ("big", "little"), a.endian),
                          c.choice("encoding", ("binary", "hex"), "binary"),
                          _bytes(c, "prefix", b""))
        c.done()
    fr = Framing(start=start, end=end, escape=esc, fixed=fixed, length=length, checksum=cs,
                 body_start=s.int("body_start", base.body_start if base else None, minimum=0),
                 delimiter=s.str("delimiter", base.delimiter if base else ","),
                 max_length=s.int("max_length", base.max_length if base else 1024, minimum=2))
    if fixed is not None and length is not None:
        raise s.error("fixed_length", "a frame has either a fixed length or a length field")
    if esc is not None and not end:
        raise s.error("escape", "escaping needs end bytes to find the end of a frame")
    if fixed is None and length is None and not end:
        raise s.error("end", "a frame needs end bytes, a length field or a fixed length")
    return fr


def _field(s: Section, msg_format: str, register_base: int | None) -> FieldSpec:
    name = s.str("name")
    if not _CODE.match(name):
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
            if not isinstance(v, str) or not _CODE.match(v):
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


def _fields(s: Section, key: str, msg_format: str, register_base: int | None) -> list[FieldSpec]:
    out: list[FieldSpec] = []
    for fs, _ in _expand(s.tables(key, optional=True), ("offset", "token", "register")):
        spec = _field(fs, msg_format, register_base)
        fs.done()
        if any(f.name == spec.name for f in out):
            raise fs.error("name", f"field '{spec.name}' is defined twice")
        out.append(spec)
    return out


def _message(s: Section, name: str, role: str, kind: str, requests: dict | None) -> Message:
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
    sample = _bytes(s, "sample", b"")
    if role == "reply" or kind in FRAMED:
        if not sample:
            raise s.error("sample", "is missing (a complete, healthy example of the message)")
    fields = _fields(s, "fields", fmt, register_base)
    match = ()
    if "match" in s.data:
        m = s.table("match")
        for k in m.data:
            if not any(f.name == k for f in fields):
                raise m.error(k, f"is not a field of '{name}'")
            match += ((k, _value(m, k)),)
        m.done()
    s.done()
    return Message(name, role, fmt, sample, tuple(fields), match, **extra)


def _rules(top: Section) -> list[Rule]:
    state = top.table("state", optional=True)
    rules: list[Rule] = []
    for kind in ("fault", "occupied", "intercom"):
        for s, _ in _expand(state.tables(kind, optional=True), ()):
            conditions = [k for k in ("equals", "in", "not_in") if k in s.data]
            if len(conditions) != 1:
                raise s.error("field", "a rule needs exactly one of equals, in, not_in")
            code = s.str("code", None) if kind == "fault" else None
            if code is not None and not _CODE.match(code):
                raise s.error("code", "fault codes are lower_snake_case")
            severities = {}
            if kind == "fault" and "severities" in s.data:
                for c, sev in s.table("severities").data.items():
                    if sev not in SEVERITIES:
                        raise s.error(f"severities.{c}", f"must be one of {', '.join(SEVERITIES)}")
                    severities[c] = sev
            rules.append(Rule(
                kind, s.str("field"), _value(s, "equals"), _values(s, "in"),
                _values(s, "not_in"), code,
                s.choice("severity", SEVERITIES, "major") if kind == "fault" else "major",
                severities, s.str("channel", None)))
            s.done()
    state.done()
    return rules


def _golden(top: Section) -> list[Golden]:
    out = []
    for s in top.tables("golden", optional=True):
        data = _hex_text(s, "hex", "text", None)
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


def _build(top: Section, path: Path) -> Profile:
    version = top.int("format", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise top.error("format", f"profile format {version} is not supported "
                                  f"(this parkwatch reads {FORMAT_VERSION})")
    identity, transport = _identity(top), _transport(top)
    kind = transport.kind
    framing = request_framing = None
    if kind in FRAMED:
        fs = top.table("framing")
        req = fs.table("request", optional=True) if "request" in fs.data else None
        framing = _framing(fs)
        if req is not None:
            request_framing = _framing(req, framing)
            req.done()
        fs.done()
    elif "framing" in top.data:
        raise top.error("framing", f"{kind} devices are framed by "
                                   f"{'pymodbus' if kind in MODBUS else 'HTTP'}; remove it")
    address = None
    if "address" in top.data:
        if kind not in FRAMED:
            raise top.error("address", "only raw framed protocols carry an address field; "
                                       "Modbus uses the unit id")
        a = top.table("address")
        spec = Section({"name": "address", **a.data}, a.file, a.prefix)
        address = _field(spec, "text" if "token" in a.data else "binary", None)
        spec.done()
    requests: dict[str, Message] = {}
    rq = top.table("requests")
    for name in rq.data:
        requests[name] = _message(rq.table(name), name, "request", kind, None)
    rq.done()
    replies: dict[str, Message] = {}
    rp = top.table("replies")
    for name in rp.data:
        replies[name] = _message(rp.table(name), name, "reply", kind, requests)
    rp.done()
    poll = top.strs("poll", list(requests)[:1])
    for name in poll:
        if name not in requests:
            raise top.error("poll", f"no request named {name!r}")
        if not any(r.answers == name for r in replies.values()) and kind not in FRAMED:
            raise top.error("poll", f"no reply answers request {name!r}")
    profile = Profile(path=path, identity=identity, transport=transport,
                      behaviour=_behaviour(top), requests=requests, replies=replies,
                      poll=tuple(poll), rules=tuple(_rules(top)), golden=tuple(_golden(top)),
                      framing=framing, request_framing=request_framing, address=address)
    top.done()
    from agent.profiles.checks import check_consistency

    check_consistency(profile)
    return profile
