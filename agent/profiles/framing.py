"""Frames of raw protocols: checking one (start, end, escaping, length, checksum), building
one (for requests and the simulator's replies), and cutting a byte stream into frames.

Offsets everywhere are into the *unescaped* frame, counted from its first start byte, as a
vendor's protocol table would list them.
"""

from __future__ import annotations

from agent.profiles.checksums import ALGORITHMS
from agent.profiles.errors import DecodeError
from agent.profiles.schema import Framing


def _hex(data: bytes) -> str:
    return data.hex(" ").upper()


def unescape(fr: Framing, frame: bytes) -> bytes:
    esc = fr.escape
    lo, hi = len(fr.start), len(frame) - len(fr.end)
    inner = frame[lo:hi]
    if esc.byte not in inner:
        for b in esc.special:
            if b != esc.byte and b in inner:
                raise DecodeError("framing", f"unescaped {b:02X} inside the frame")
        return frame
    out = bytearray(frame[:lo])
    it = iter(inner)
    for b in it:
        if b == esc.byte:
            nxt = next(it, None)
            if nxt is None:
                raise DecodeError("framing", "escape byte at the end of the frame")
            b = nxt ^ esc.xor
            if b not in esc.special:
                raise DecodeError("framing", f"escape of {nxt:02X} gives {b:02X}, which needs "
                                             "no escaping")
        elif b in esc.special:
            raise DecodeError("framing", f"unescaped {b:02X} inside the frame")
        out.append(b)
    out += frame[hi:]
    return bytes(out)


def escape(fr: Framing, frame: bytes) -> bytes:
    esc = fr.escape
    lo, hi = len(fr.start), len(frame) - len(fr.end)
    out = bytearray(frame[:lo])
    for b in frame[lo:hi]:
        if b in esc.special:
            out += bytes((esc.byte, b ^ esc.xor))
        else:
            out.append(b)
    out += frame[hi:]
    return bytes(out)


def expected_total(fr: Framing, frame: bytes) -> int | None:
    """Total unescaped length the header announces (None: the framing has no length)."""
    if fr.fixed:
        return fr.fixed
    ln = fr.length
    if ln is None:
        return None
    head = ln.offset + ln.size
    declared = int.from_bytes(frame[ln.offset:head], ln.endian)
    if ln.counts == "frame":
        total = declared
    elif ln.counts == "rest":
        total = head + declared
    else:  # data: between the length field and the checksum
        total = head + declared + fr.trailer
    return total + ln.adjust


def checksum_span(fr: Framing, n: int) -> tuple[int, int, int]:
    """(end of covered bytes, start of checksum, end of checksum) for an n-byte frame."""
    cs = fr.checksum
    cs_end = n - len(fr.end)
    cs_start = cs_end - cs.size * (2 if cs.encoding == "hex" else 1)
    return cs_start - len(cs.prefix), cs_start, cs_end


def body_span(fr: Framing, n: int) -> tuple[int, int]:
    start = len(fr.start) if fr.body_start is None else fr.body_start
    if fr.checksum is not None:
        return start, checksum_span(fr, n)[0]
    return start, n - len(fr.end)


def unframe(fr: Framing, frame: bytes) -> bytes:
    """Check one frame as received; return it unescaped. Nothing is read before this passes."""
    n = len(frame)
    if n < fr.min_length:
        raise DecodeError("length" if fr.fixed else "framing",
                          f"frame of {n} bytes is shorter than the {fr.min_length}-byte minimum")
    if n > fr.max_length * 2:
        raise DecodeError("framing", f"frame of {n} bytes is longer than {fr.max_length}")
    if not frame.startswith(fr.start):
        raise DecodeError("framing", f"frame does not start with {_hex(fr.start)}")
    if fr.end and not frame.endswith(fr.end):
        raise DecodeError("framing", f"frame does not end with {_hex(fr.end)}")
    if fr.escape is not None:
        frame = unescape(fr, frame)
        n = len(frame)
    if n > fr.max_length:
        raise DecodeError("framing", f"frame of {n} bytes is longer than {fr.max_length}")
    if fr.length is not None and n < fr.length.offset + fr.length.size:
        raise DecodeError("length", f"frame of {n} bytes ends before its length field")
    total = expected_total(fr, frame)
    if total is not None and total != n:
        raise DecodeError("length", f"header says {total} bytes, frame has {n}")
    cs = fr.checksum
    if cs is not None:
        cover_end, cs_start, cs_end = checksum_span(fr, n)
        if cover_end < cs.start:
            raise DecodeError("framing", f"frame of {n} bytes has no room for its checksum")
        if frame[cover_end:cs_start] != cs.prefix:
            raise DecodeError("framing", f"no {cs.prefix.decode('latin-1')!r} before the "
                                         "checksum")
        algo = ALGORITHMS[cs.algorithm]
        want = algo.func(frame[cs.start:cover_end])
        if cs.encoding == "hex":
            digits = frame[cs_start:cs_end]
            try:
                got = int(digits.decode("ascii"), 16) if digits.isalnum() else -1
            except (UnicodeDecodeError, ValueError):
                got = -1
        else:
            got = int.from_bytes(frame[cs_start:cs_end], cs.endian)
        if got != want:
            shown = frame[cs_start:cs_end]
            raise DecodeError("checksum", f"checksum {_hex(shown)} does not match "
                                          f"{want:0{2 * cs.size}X}")
    return frame


def build(fr: Framing, frame: bytes) -> bytes:
    """Fill in length and checksum of an unescaped frame, then escape it for the wire."""
    buf = bytearray(frame)
    ln = fr.length
    if ln is not None:
        head = ln.offset + ln.size
        n = len(buf) - ln.adjust
        value = {"frame": n, "rest": n - head}.get(ln.counts, n - head - fr.trailer)
        buf[ln.offset:head] = value.to_bytes(ln.size, ln.endian)
    cs = fr.checksum
    if cs is not None:
        cover_end, cs_start, cs_end = checksum_span(fr, len(buf))
        value = ALGORITHMS[cs.algorithm].func(bytes(buf[cs.start:cover_end]))
        buf[cover_end:cs_start] = cs.prefix
        if cs.encoding == "hex":
            buf[cs_start:cs_end] = format(value, f"0{2 * cs.size}X").encode()
        else:
            buf[cs_start:cs_end] = value.to_bytes(cs.size, cs.endian)
    out = bytes(buf)
    return escape(fr, out) if fr.escape is not None else out


class FrameReader:
    """Cuts a byte stream into candidate frames (sans I/O: ``feed`` bytes, get frames).

    Line noise before a start byte is skipped. A frame found by its length is checked for
    its end bytes; one that does not fit is dropped one byte at a time, so a start byte
    inside noise cannot swallow the real frame behind it. ``noise`` counts skipped bytes.
    """

    def __init__(self, fr: Framing):
        self.fr = fr
        self.buf = bytearray()
        self.noise = 0
        self.by_delimiter = fr.escape is not None or (not fr.fixed and fr.length is None)

    def clear(self) -> None:
        self.buf.clear()

    def feed(self, data: bytes) -> list[bytes]:
        self.buf += data
        frames = []
        while True:
            frame = self._next()
            if frame is None:
                return frames
            frames.append(frame)

    def _skip(self, n: int) -> None:
        self.noise += n
        del self.buf[:n]

    def _next(self) -> bytes | None:
        fr, buf = self.fr, self.buf
        while True:
            at = buf.find(fr.start)
            if at < 0:
                keep = len(fr.start) - 1
                if len(buf) > keep:
                    self._skip(len(buf) - keep)
                return None
            if at:
                self._skip(at)
            if self.by_delimiter:
                stop = buf.find(fr.end, len(fr.start))
                limit = fr.max_length * 2
                if stop < 0:
                    if len(buf) > limit:
                        self._skip(1)
                        continue
                    return None
                total = stop + len(fr.end)
                if total > limit:
                    self._skip(1)
                    continue
            else:
                ln = fr.length
                if ln is not None and len(buf) < ln.offset + ln.size:
                    return None
                total = expected_total(fr, buf)
                if total < fr.min_length or total > fr.max_length:
                    self._skip(1)
                    continue
                if len(buf) < total:
                    return None
                if fr.end and buf[total - len(fr.end):total] != fr.end:
                    self._skip(1)
                    continue
            frame = bytes(buf[:total])
            del buf[:total]
            return frame
