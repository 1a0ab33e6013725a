"""Firmware profile files (TOML) -> ``Profile``, with errors that name the file and the key.

``load`` reads and validates one file; ``resolve`` turns a profile name from an agent config
into a file (``firmware_profiles/<name>.toml``) or takes a path as it is.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from agent.profiles import sections
from agent.profiles.checksums import ALGORITHMS
from agent.profiles.errors import ProfileError
from agent.profiles.schema import (
    DEVICE_CLASSES,
    FRAMED,
    MODBUS,
    SOURCES,
    TRANSPORTS,
    Behaviour,
    Checksum,
    Escape,
    Framing,
    Identity,
    Length,
    Message,
    Profile,
    Transport,
)
from parkwatch.core.conf import Section, load_toml
from parkwatch.core.ids import ID as _ID

FORMAT_VERSION = 1
# The shipped profiles are under 6 kB; a profile is parsed once per file but by every
# agent that names it, so a runaway one is refused before it is parsed.
MAX_PROFILE_BYTES = 256_000
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
    return _build(load_toml(path, MAX_PROFILE_BYTES), path)


def load(path: str | Path) -> Profile:
    path = Path(path).resolve()
    try:
        mtime = path.stat().st_mtime
    except OSError:
        raise ProfileError(path, "", "no such file") from None
    return _load_cached(path, mtime)


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
    start = sections.read_bytes(s, "start", base.start if base else None)
    if not start:
        raise s.error("start", "is missing (the byte(s) every frame starts with)")
    end = sections.read_bytes(s, "end", base.end if base else b"")
    esc = base.escape if base else None
    if "escape" in s.data:
        e = s.table("escape")
        byte, special = sections.read_bytes(e, "byte"), e.strs("special")
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
                          sections.read_bytes(c, "prefix", b""))
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
        address = sections.read_field(spec, "text" if "token" in a.data else "binary", None)
        spec.done()
    requests: dict[str, Message] = {}
    rq = top.table("requests")
    for name in rq.data:
        requests[name] = sections.read_message(rq.table(name), name, "request", kind, None)
    rq.done()
    replies: dict[str, Message] = {}
    rp = top.table("replies")
    for name in rp.data:
        replies[name] = sections.read_message(rp.table(name), name, "reply", kind, requests)
    rp.done()
    poll = top.strs("poll", list(requests)[:1])
    for name in poll:
        if name not in requests:
            raise top.error("poll", f"no request named {name!r}")
        if not any(r.answers == name for r in replies.values()) and kind not in FRAMED:
            raise top.error("poll", f"no reply answers request {name!r}")
    profile = Profile(path=path, identity=identity, transport=transport,
                      behaviour=_behaviour(top), requests=requests, replies=replies,
                      poll=tuple(poll), rules=tuple(sections.read_rules(top)),
                      golden=tuple(sections.read_golden(top)),
                      framing=framing, request_framing=request_framing, address=address)
    top.done()
    from agent.profiles.checks import check_consistency

    check_consistency(profile)
    return profile
