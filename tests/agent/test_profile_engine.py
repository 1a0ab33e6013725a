"""The generic engine: checksums, framing, the stream cutter, fields and the shipped profiles."""

from __future__ import annotations

import pytest

from agent.profiles import Codec, DecodeError, available, load_named, run_golden
from agent.profiles import checksums as cs
from agent.profiles.framing import FrameReader, build, unframe

CHECK = b"123456789"


@pytest.mark.parametrize("func,value", [
    (cs.crc16_modbus, 0x4B37), (cs.crc16_ccitt, 0x29B1), (cs.crc16_xmodem, 0x31C3),
    (cs.crc16_kermit, 0x2189), (cs.xor8, 0x31), (cs.sum8, 0xDD), (cs.sum8_inverted, 0x22),
    (cs.sum8_negated, 0x23),
])
def test_checksums_match_the_catalogue_check_values(func, value):
    assert func(CHECK) == value


def test_the_seven_profiles_ship_and_every_golden_vector_decodes_as_recorded():
    names = available()
    assert len(names) >= 7
    classes = {load_named(n).identity.device_class for n in names}
    kinds = {load_named(n).kind for n in names}
    assert classes == {"barrier", "loop", "camera"}
    assert kinds == {"serial", "tcp", "http", "modbus_rtu", "modbus_tcp"}
    for name in names:
        profile = load_named(name)
        assert profile.identity.source in ("synthetic", "vendor")
        assert len(profile.golden) >= 6, name
        assert any(g.error for g in profile.golden), f"{name} has no bad-input vector"
        assert run_golden(profile) == [], name


def test_a_golden_vector_that_disagrees_is_reported_on_one_line(tmp_path):
    src = load_named("bg-5b-xor").path.read_text()
    bad = src.replace('fields = { arm = "open", fault = "motor" }',
                      'fields = { arm = "closed", fault = "motor" }')
    path = tmp_path / "bad.toml"
    path.write_text(bad)
    from agent.profiles import load

    problems = run_golden(load(path))
    assert problems == ["golden[1] 'motor fault with the arm open': field arm: expected "
                        "'closed', got 'open'"]


def framing(name):
    return load_named(name).framing


@pytest.mark.parametrize("name", ["bg-5b-xor", "bg-7e7f-invsum", "loop-ascii-4ch",
                                  "lpr-tcp-json"])
def test_frames_survive_noise_and_arrive_in_any_chunks(name):
    profile = load_named(name)
    sample = next(iter(profile.replies.values())).sample
    stream = b"\x00\xff\x13" + sample + b"\x7a" + sample + sample[:3]
    for size in (1, 2, 5, len(stream)):
        reader = FrameReader(profile.framing)
        frames = []
        for i in range(0, len(stream), size):
            frames += reader.feed(stream[i:i + size])
        assert frames == [sample, sample], (name, size)
        assert bytes(reader.buf) == sample[:3]


def test_escaping_round_trips_and_a_stray_escape_is_a_framing_error():
    fr = framing("bg-5b-xor")
    frame = build(fr, bytes.fromhex("5B 5B 81 04 5D 5C 00 00 00 5D"))
    assert frame == bytes.fromhex("5B 5C 7B 81 04 5C 7D 5C 7C 00 00 DF 5D")
    assert unframe(fr, frame) == bytes.fromhex("5B 5B 81 04 5D 5C 00 00 DF 5D")
    with pytest.raises(DecodeError, match="framing"):
        unframe(fr, bytes.fromhex("5B 01 81 04 00 00 00 00 84 5C 5D"))
    with pytest.raises(DecodeError, match="unescaped 5B"):
        unframe(fr, bytes.fromhex("5B 01 5B 04 00 00 00 00 84 5D"))


def test_a_late_or_odd_length_is_named():
    with pytest.raises(DecodeError) as e:
        Codec(load_named("bg-5b-xor")).decode(bytes.fromhex("5B 01 81 05 00 00 00 00 85 5D"))
    assert e.value.kind == "length" and "header says 11 bytes, frame has 10" in str(e.value)


def test_xml_with_an_unknown_encoding_is_a_payload_error():
    c = Codec(load_named("lpr-isapi-http"))
    with pytest.raises(DecodeError) as e:
        c.decode(b'<?xml version="1.0" encoding="TTF-8"?><storage/>', "storage")
    assert e.value.kind == "payload"


def test_simulator_side_writes_what_the_agent_side_reads():
    for name in available():
        c = Codec(load_named(name))
        for reply in c.profile.replies:
            values = c.baseline(reply)
            data = c.encode_reply(reply, values, 7 if c.profile.address else None)
            decoded = c.decode(data, reply if c.profile.kind == "http" else None)
            assert decoded.fields == values, (name, reply)


def test_requests_carry_the_address_and_the_simulator_reads_it_back():
    for name in ("bg-5b-xor", "bg-7e7f-invsum", "loop-ascii-4ch"):
        c = Codec(load_named(name))
        assert c.parse_request(c.request("status", 0x5D if name == "bg-5b-xor" else 42)) == \
            ("status", 0x5D if name == "bg-5b-xor" else 42)
