"""The decoder's fast paths give the same answers as the reference paths they stand in for,
on random and mutated input: Modbus responses read directly versus through pymodbus, XML
bodies through ElementTree's C parser versus defusedxml, and remembered state verdicts
versus rules evaluated afresh. Same value, or the same error (kind and message)."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.profiles import Codec, DecodeError, available, load_named, modbus
from agent.profiles import fields as F
from agent.profiles import xmlbody as X
from agent.profiles.schema import FieldSpec

PROFILES = available()
MODBUS = [n for n in PROFILES if load_named(n).kind.startswith("modbus")]
XML = [n for n in PROFILES if any(m.format == "xml" for m in load_named(n).replies.values())]
MANY = settings(max_examples=400, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
EDITS = st.lists(st.tuples(st.sampled_from(["set", "insert", "delete", "truncate"]),
                           st.integers(0, 10_000), st.integers(0, 255)), max_size=3)


@cache
def codec(name: str) -> Codec:
    return Codec(load_named(name))


def outcome(fn, *args):
    try:
        return "ok", fn(*args)
    except DecodeError as e:
        return "error", e.kind, str(e)


def edit(data: bytes, edits) -> bytes:
    for how, at, value in edits:
        at = at % (len(data) + 1)
        if how == "set" and at < len(data):
            data = data[:at] + bytes([value]) + data[at + 1:]
        elif how == "insert":
            data = data[:at] + bytes([value]) + data[at:]
        elif how == "delete":
            data = data[:at] + data[at + 1:]
        elif how == "truncate":
            data = data[:at]
    return data


def reference_registers(kind: str, adu: bytes):
    pdu = modbus.parse_response(kind, adu)
    return pdu.function_code, tuple(pdu.registers), pdu.dev_id


def with_crc(frame: bytes) -> bytes:
    from agent.profiles.checksums import crc16_modbus

    return frame + crc16_modbus(frame).to_bytes(2, "little")


@st.composite
def modbus_adus(draw, kind: str):
    """Valid responses, exceptions, byte counts that lie, wrong CRCs and protocol ids."""
    unit, tid = draw(st.integers(0, 255)), draw(st.integers(0, 0xFFFF))
    fc = draw(st.sampled_from([3, 4, 3, 4, 1, 2, 6, 0x83, 0x84, 0x80, 0]))
    regs = draw(st.lists(st.integers(0, 0xFFFF), max_size=20))
    data = b"".join(r.to_bytes(2, "big") for r in regs)
    count = draw(st.sampled_from([len(data), len(data), len(data) + 1, max(len(data) - 1, 0),
                                  draw(st.integers(0, 255))])) & 0xFF
    pdu = bytes([fc, count]) + data
    if kind == "modbus_rtu":
        adu = with_crc(bytes([unit]) + pdu)
        if draw(st.booleans()):
            adu = edit(adu, draw(EDITS))
    else:
        pid = draw(st.sampled_from([0, 0, 0, 1, 0x100]))
        length = draw(st.sampled_from([len(pdu) + 1, len(pdu) + 1, draw(st.integers(0, 300))]))
        adu = tid.to_bytes(2, "big") + pid.to_bytes(2, "big") + length.to_bytes(2, "big") + \
            bytes([unit]) + pdu
        if draw(st.booleans()):
            adu = edit(adu, draw(EDITS))
    return adu


@pytest.mark.parametrize("kind", ["modbus_rtu", "modbus_tcp"])
@MANY
@given(data=st.data())
def test_direct_modbus_reads_agree_with_pymodbus(kind, data):
    adu = data.draw(st.one_of(modbus_adus(kind), st.binary(max_size=60)))
    assert outcome(modbus.read_registers, kind, adu) == outcome(reference_registers, kind, adu)


@pytest.mark.parametrize("name", MODBUS)
@MANY
@given(pick=st.integers(0, 1000), edits=EDITS)
def test_direct_modbus_reads_agree_on_the_profiles_frames(name, pick, edits):
    c = codec(name)
    frames = [m.sample for m in c.profile.replies.values()] + [g.data for g in c.profile.golden]
    adu = edit(frames[pick % len(frames)], edits)
    assert outcome(modbus.read_registers, c.kind, adu) == \
        outcome(reference_registers, c.kind, adu)


def test_exceptions_and_bad_crcs_still_raise_what_pymodbus_raised():
    for kind in ("modbus_rtu", "modbus_tcp"):
        exc = modbus.build_exception(kind, 3, 2, 1)
        assert outcome(modbus.read_registers, kind, exc)[:2] == ("error", "modbus")
    good = modbus.build_response("modbus_rtu", "read_holding_registers", [1, 2], 7)
    assert modbus.read_registers("modbus_rtu", good) == (3, (1, 2), 7)
    bad = good[:-1] + bytes([good[-1] ^ 1])
    assert outcome(modbus.read_registers, "modbus_rtu", bad)[:2] == ("error", "checksum")


def tree_of(parse, body: bytes):
    try:
        root = parse(body)
    except Exception as e:  # noqa: BLE001  (the same exception, whatever it is)
        return "error", type(e).__name__, str(e)
    return "ok", ET.tostring(root)


XML_BITS = [b"<!DOCTYPE a [<!ENTITY e 'x'>]>", b"<!-- c -->", b"<![CDATA[x]]>", b"&e;",
            b"&amp;", b"\x00", b"<?xml version='1.0' encoding='utf-16'?>",
            b'<?xml version="1.0" encoding="cp037"?>', b'<?xml version="1.0"?>',
            b"<a>", b"</a>", b"<b x='1'/>", b"\xef\xbb\xbf", "é".encode(), b">", b"<"]


@pytest.mark.parametrize("name", XML)
@MANY
@given(pick=st.integers(0, 1000), edits=EDITS,
       inserts=st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(XML_BITS)),
                        max_size=2))
def test_the_c_parser_path_gives_defusedxmls_tree_or_error(name, pick, edits, inserts):
    c = codec(name)
    bodies = [m.sample for m in c.profile.replies.values()] + [g.data for g in c.profile.golden]
    body = edit(bodies[pick % len(bodies)], edits)
    for at, bit in inserts:
        at %= len(body) + 1
        body = body[:at] + bit + body[at:]
    assert tree_of(X.parse, body) == tree_of(X.parse_defused, body)


def test_a_dtd_always_goes_to_defusedxml():
    for body in (b"<!DOCTYPE a [<!ENTITY e 'x'>]><a>&e;</a>",
                 '<?xml version="1.0" encoding="utf-16"?><a/>'.encode("utf-16"),
                 b'<?xml version="1.0" encoding="cp037"?><a/>'):
        assert not X.no_dtd_possible(body)
        assert tree_of(X.parse, body) == tree_of(X.parse_defused, body)
    assert X.no_dtd_possible(b'<?xml version="1.0" encoding="UTF-8"?>\n<a>1</a>')


@cache
def readings_of(name: str):
    """Lists of field dicts for the profile's rule fields, values near the rules' own."""
    rules = codec(name).profile.rules
    seen = [v for r in rules for v in (r.within or r.not_within or (r.equals,))]
    value = st.one_of(st.none(), st.booleans(), st.integers(-3, 300), st.text(max_size=6),
                      st.floats(allow_nan=True), st.sampled_from([0.0, -0.0, 1.0, True, 1]),
                      st.sampled_from(seen or [None]))
    return st.lists(st.fixed_dictionaries({r.field: value for r in rules}), min_size=1,
                    max_size=4)


@pytest.mark.parametrize("name", PROFILES)
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_remembered_verdicts_equal_fresh_evaluation(name, data):
    evaluate = codec(name)._evaluate
    for fields in data.draw(readings_of(name)):
        for _ in range(2):  # the second time from the cache, if not the first already
            got, want = evaluate(fields), evaluate.fully(fields)
            assert got == want or _same_with_nan(got, want)
            assert [type(f.code) for f in got.faults] == [type(f.code) for f in want.faults]
            assert got.fields is fields


def _same_with_nan(a, b) -> bool:
    """NaN fields make readings compare unequal to themselves; compare the verdicts."""
    assert any(isinstance(v, float) and math.isnan(v) for v in a.fields.values())
    return (a.state, a.fault, a.severity, a.occupied, a.intercom, a.faults) == \
        (b.state, b.fault, b.severity, b.occupied, b.intercom, b.faults)


TEXTS = st.one_of(st.text(max_size=8), st.integers(), st.booleans(), st.floats(),
                  st.sampled_from([" 1 ", "TRUE", " off", "0x1", "١٢", "1_0", "-3", "", "yes"]))


@pytest.mark.parametrize("spec", [
    FieldSpec("n", path=("n",), type="int"), FieldSpec("b", path=("b",), type="bool"),
    FieldSpec("e", path=("e",), type="int", enum={0: "zero", 1: "one"}),
    FieldSpec("s", path=("s",), type="int", scale=0.5)], ids=lambda s: s.name)
@settings(max_examples=300, deadline=None)
@given(text=TEXTS)
def test_text_conversion_shortcuts_agree_with_the_generic_conversion(spec, text):
    def reference(t):
        return F._cooker(spec)(F._convert_text(spec, t)) if spec.enum or spec.scale \
            else F._convert_text(spec, t)
    assert outcome(F._text_cooker(spec), text) == outcome(reference, text)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=80))
def test_binascii_crcs_agree_with_the_tables(data):
    from agent.profiles import checksums as cs

    assert cs.crc16_ccitt(data) == cs._crc16_ccitt_table(data)
    assert cs.crc16_xmodem(data) == cs._crc16_xmodem_table(data)
