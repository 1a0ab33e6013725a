"""Bad input, every shipped profile: random and mutated frames give a reading or a typed
DecodeError, never another exception, and never a state from a frame whose checksum fails.

The checksum oracle here is written independently of the engine: it finds the checksum by
the profile's description and recomputes it with the catalogue functions.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.profiles import Codec, DecodeError, available, load_named
from agent.profiles.checksums import ALGORITHMS, crc16_modbus

PROFILES = available()
FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def codec(name):
    return Codec(load_named(name))


def valid_frames(c: Codec) -> list[bytes]:
    frames = [m.sample for m in c.profile.replies.values()]
    frames += [g.data for g in c.profile.golden if g.error is None]
    return frames


def decode_or_error(c: Codec, data: bytes, reply=None):
    """The property itself: either a reading or a DecodeError; anything else fails the test."""
    try:
        decoded = c.decode(data, reply)
    except DecodeError as e:
        assert e.kind in ("framing", "length", "checksum", "unknown", "field", "payload",
                          "modbus", "transport"), e
        return None
    reading = c.reading(decoded.fields)
    assert reading.state in ("ok", "fault", "occupied")
    return reading


def checksum_ok(c: Codec, frame: bytes) -> bool | None:
    """Independent oracle: does the frame carry a correct checksum? None: no checksum."""
    p = c.profile
    if p.kind == "modbus_rtu":
        return len(frame) >= 4 and crc16_modbus(frame[:-2]) == int.from_bytes(frame[-2:],
                                                                              "little")
    if p.framing is None or p.framing.checksum is None:
        return None
    fr, cs = p.framing, p.framing.checksum
    if not frame.startswith(fr.start) or not frame.endswith(fr.end) or \
            len(frame) < len(fr.start) + len(fr.end):
        return False
    inner = frame[len(fr.start):len(frame) - len(fr.end)]
    if fr.escape is not None:
        plain, i = bytearray(), 0
        while i < len(inner):
            if inner[i] == fr.escape.byte:
                if i + 1 == len(inner):
                    return False
                plain.append(inner[i + 1] ^ fr.escape.xor)
                i += 2
            else:
                plain.append(inner[i])
                i += 1
        inner = bytes(plain)
    whole = fr.start + inner + fr.end
    width = cs.size * (2 if cs.encoding == "hex" else 1)
    at = len(whole) - len(fr.end) - width
    covered = whole[cs.start:at - len(cs.prefix)]
    if at - len(cs.prefix) < cs.start:
        return False
    raw = whole[at:at + width]
    if cs.encoding == "hex":
        try:
            got = int(raw.decode("ascii"), 16)
        except (UnicodeDecodeError, ValueError):
            return False
    else:
        got = int.from_bytes(raw, cs.endian)
    return ALGORITHMS[cs.algorithm].func(covered) == got


def replies_for(c: Codec):
    return list(c.profile.replies) if c.profile.kind == "http" else [None]


@pytest.mark.parametrize("name", PROFILES)
@FAST
@given(data=st.binary(max_size=300))
def test_random_bytes_never_raise_anything_but_decode_error(name, data):
    c = codec(name)
    for reply in replies_for(c):
        reading = decode_or_error(c, data, reply)
        if reading is not None and checksum_ok(c, data) is not None:
            assert checksum_ok(c, data)


def _mutate(frame: bytes, how: str, at: int, value: int) -> bytes:
    if not frame:
        return bytes([value])
    at %= len(frame)
    if how == "flip":
        return frame[:at] + bytes([frame[at] ^ (1 << (value % 8))]) + frame[at + 1:]
    if how == "set":
        return frame[:at] + bytes([value]) + frame[at + 1:]
    if how == "insert":
        return frame[:at] + bytes([value]) + frame[at:]
    if how == "delete":
        return frame[:at] + frame[at + 1:]
    if how == "truncate":
        return frame[:at]
    return frame + frame[:at]  # "repeat": a second, partial frame glued on


@pytest.mark.parametrize("name", PROFILES)
@FAST
@given(pick=st.integers(0, 10_000), steps=st.lists(st.tuples(
    st.sampled_from(["flip", "set", "insert", "delete", "truncate", "repeat"]),
    st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4))
def test_mutated_frames_never_give_a_state_unless_the_checksum_holds(name, pick, steps):
    c = codec(name)
    frames = valid_frames(c)
    frame = frames[pick % len(frames)]
    for how, at, value in steps:
        frame = _mutate(frame, how, at, value)
    for reply in replies_for(c):
        reading = decode_or_error(c, frame, reply)
        verdict = checksum_ok(c, frame)
        if verdict is False:
            assert reading is None, f"{name} gave {reading} for a frame with a bad checksum"


@pytest.mark.parametrize("name", [n for n in PROFILES if checksum_ok(
    codec(n), load_named(n).replies[next(iter(load_named(n).replies))].sample) is not None])
def test_every_single_bit_error_in_a_sample_is_refused(name):
    """Exhaustive: 8-bit sums, XOR and CRC-16 all catch any one flipped bit. (The one flip
    that gets through is a hex checksum digit changing case, which is the same number.)"""
    c = codec(name)
    refused = 0
    for msg in c.profile.replies.values():
        for i in range(len(msg.sample)):
            for bit in range(8):
                bad = msg.sample[:i] + bytes([msg.sample[i] ^ (1 << bit)]) + msg.sample[i + 1:]
                try:
                    c.decode(bad)
                except DecodeError:
                    refused += 1
                    continue
                assert bit == 5 and c.profile.framing.checksum.encoding == "hex" and \
                    checksum_ok(c, bad), f"{bad!r} was accepted"
    assert refused >= 8 * sum(len(m.sample) for m in c.profile.replies.values()) - 4


@pytest.mark.parametrize("name", PROFILES)
def test_deeply_nested_or_huge_bodies_are_refused_cleanly(name):
    c = codec(name)
    for reply in replies_for(c):
        for data in (b"[" * 100_000, b"<a>" * 20_000, b"\x00" * 70_000):
            decode_or_error(c, data, reply)
