"""One simulated device, driven by its firmware profile: what it would answer, and the faults
a test or a script can tell it to show. Transport engines (``serial_sim``, ``net_sim``)
carry its answers; this class never touches a socket or a pty.

Controls (all thread-safe, all usable from ``simulators.control`` over HTTP):

- ``set_mode(mode, delay_s)``: ``normal``; ``silent`` (no answer at all); ``late`` (answer
  after ``delay_s``); ``corrupt`` (a wrong checksum where the protocol has one, else a
  damaged header or body); ``truncated`` (the first half only); ``random`` (random bytes of
  the same length);
- ``set_fault(code, channel)``: report any fault code of the profile (None clears);
- ``set_occupied(on, channel)``: keep a loop occupied (a car waiting at the arm);
- ``press_intercom(channel)``: the call button, held until one answer has carried it;
- ``set_field(name, value)``: any other field of the profile.
"""

from __future__ import annotations

import copy
import random
import threading
from dataclasses import dataclass
from typing import Any

from agent.profiles import Codec, Profile
from agent.profiles import framing as framing_mod
from agent.profiles.schema import FRAMED, MODBUS, Rule

MODES = ("normal", "silent", "late", "corrupt", "truncated", "random")


@dataclass(frozen=True)
class Answer:
    data: bytes
    delay_s: float = 0.0


class SimError(ValueError):
    """A control the device cannot follow (an unknown fault code, say); the text says why."""


class SimDevice:
    def __init__(self, profile: Profile, name: str = "", address: int | None = None,
                 seed: int | None = None):
        self.profile = profile
        self.codec = Codec(profile)
        self.name = name or profile.id
        multi = profile.transport.multidrop or profile.kind in MODBUS
        self.address = address if address is not None else (1 if multi else None)
        self._baseline = {r: self.codec.baseline(r) for r in profile.replies}
        self.values = copy.deepcopy(self._baseline)
        self.mode = "normal"
        self.delay_s = 0.0
        self.fault: str | None = None
        self.requests = 0
        self.answers = 0
        self.lock = threading.RLock()
        self._latched: set[tuple[str, str]] = set()
        self._rng = random.Random(seed)

    # --- controls -------------------------------------------------------------------------------

    def set_mode(self, mode: str, delay_s: float | None = None) -> None:
        if mode not in MODES:
            raise SimError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
        with self.lock:
            self.mode = mode
            if delay_s is not None:
                self.delay_s = float(delay_s)
            elif mode == "late" and not self.delay_s:
                self.delay_s = self.profile.behaviour.timeout_s * 2

    def go_silent(self, silent: bool = True) -> None:
        self.set_mode("silent" if silent else "normal")

    def set_fault(self, code: str | None, channel: str | None = None) -> None:
        with self.lock:
            for rule in self._rules("fault"):
                self._restore(rule.field)
            self.fault = None
            if code is None:
                return
            for rule in self._rules("fault", channel):
                value = self._value_for(rule, code)
                if value is not None:
                    self._set(rule.field, value)
                    self.fault = code
                    return
        codes = ", ".join(self.profile.fault_codes())
        raise SimError(f"{self.profile.id} has no fault {code!r}"
                       f"{f' on channel {channel}' if channel else ''}; it knows: {codes}")

    def set_occupied(self, on: bool = True, channel: str | None = None) -> None:
        rule = self._one("occupied", channel)
        with self.lock:
            if on:
                self._set(rule.field, self._value_for(rule, None))
            else:
                self._restore(rule.field)

    def press_intercom(self, channel: str | None = None) -> None:
        rule = self._one("intercom", channel)
        with self.lock:
            self._set(rule.field, self._value_for(rule, None))
            self._latched.add((self._reply_of(rule.field), rule.field))

    def set_field(self, name: str, value: Any) -> None:
        with self.lock:
            self._set(name, value)

    def status(self) -> dict[str, Any]:
        with self.lock:
            return {"name": self.name, "profile": self.profile.id, "address": self.address,
                    "mode": self.mode, "delay_s": self.delay_s, "fault": self.fault,
                    "requests": self.requests, "answers": self.answers,
                    "faults": self.profile.fault_codes(),
                    "occupied_channels": self.profile.channels("occupied"),
                    "intercom_channels": self.profile.channels("intercom")}

    # --- answering ------------------------------------------------------------------------------

    def answer(self, request: str, tid: int = 0) -> Answer | None:
        """The answer to ``request`` as the device is now, or None for silence."""
        with self.lock:
            self.requests += 1
            if self.mode == "silent":
                return None
            reply = self.reply_for(request)
            data = self._encode(reply, tid)
            return self._deliver(data)

    def push(self, reply: str) -> Answer | None:
        """A message the device sends unasked (a heartbeat)."""
        with self.lock:
            if self.mode == "silent":
                return None
            return self._deliver(self._encode(reply, 0))

    def reply_for(self, request: str) -> str:
        for name, msg in self.profile.replies.items():
            if msg.answers == request:
                return name
        raise SimError(f"{self.profile.id} has no reply to request {request!r}")

    def _encode(self, reply: str, tid: int) -> bytes:
        data = self.codec.encode_reply(reply, self.values[reply], self.address, tid)
        for key in [k for k in self._latched if k[0] == reply]:
            self._latched.discard(key)
            self._restore(key[1])
        return data

    def _deliver(self, data: bytes) -> Answer:
        self.answers += 1
        mode = self.mode
        if mode == "corrupt":
            data = self._corrupt(data)
        elif mode == "truncated":
            data = data[: max(1, len(data) // 2)]
        elif mode == "random":
            data = bytes(self._rng.getrandbits(8) for _ in range(len(data)))
        return Answer(data, self.delay_s if mode == "late" else 0.0)

    def _corrupt(self, data: bytes) -> bytes:
        p = self.profile
        if p.kind in FRAMED and p.framing.checksum is not None:
            fr = p.framing
            frame = bytearray(framing_mod.unframe(fr, data))
            _, start, _ = framing_mod.checksum_span(fr, len(frame))
            if fr.checksum.encoding == "hex":
                frame[start] = ord("0") if frame[start] != ord("0") else ord("1")
            else:
                frame[start] ^= 0x01
            frame = bytes(frame)
            return framing_mod.escape(fr, frame) if fr.escape else frame
        if p.kind == "modbus_rtu":
            return data[:-1] + bytes([data[-1] ^ 0x01])
        if p.kind == "modbus_tcp":
            return data[:2] + b"\x00\x01" + data[4:]  # a protocol id other than Modbus
        if p.kind == "tcp":  # no checksum: damage the magic
            return bytes([data[0] ^ 0xFF]) + data[1:]
        middle = len(data) // 2
        return data[:middle] + b"\xff" + data[middle + 1:]  # HTTP: not UTF-8 any more

    # --- helpers --------------------------------------------------------------------------------

    def _rules(self, kind: str, channel: str | None = None) -> list[Rule]:
        return [r for r in self.profile.rules if r.kind == kind and
                (channel is None or r.channel == str(channel))]

    def _one(self, kind: str, channel: str | None) -> Rule:
        rules = self._rules(kind, channel)
        if not rules:
            known = self.profile.channels(kind)
            raise SimError(f"{self.profile.id} has no {kind} input"
                           + (f" on channel {channel} (channels: {known})" if channel else ""))
        return rules[0]

    def _value_for(self, rule: Rule, code: str | None) -> Any:
        """A field value that makes ``rule`` hold (and yield ``code``, for a fault)."""
        spec = self.profile.field_spec(rule.field)
        if rule.kind == "fault" and rule.code is None:
            return code if rule.holds(code) and spec.enum and code in spec.enum.values() \
                else None
        if rule.kind == "fault" and rule.code != code:
            return None
        if rule.within:
            return rule.within[0]
        if rule.not_within is None:
            return rule.equals
        candidates: list[Any] = list(spec.enum.values()) if spec.enum else \
            ["error", "fault", "failed", "stopped", 1, 2, True]
        return next((c for c in candidates if rule.holds(c)), None)

    def _reply_of(self, field: str) -> str:
        for reply, values in self.values.items():
            if field in values:
                return reply
        raise SimError(f"{self.profile.id} has no field {field!r}")

    def _set(self, field: str, value: Any) -> None:
        self.values[self._reply_of(field)][field] = value

    def _restore(self, field: str) -> None:
        reply = self._reply_of(field)
        self.values[reply][field] = self._baseline[reply][field]
