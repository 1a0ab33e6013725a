"""The two errors of the profile engine: a bad profile file, and a frame that does not decode."""

from __future__ import annotations

from parkwatch.core.conf import ConfigError

# A profile is a config file: its problems name the file and the key, and the CLI prints them
# on one line like any other config problem.
ProfileError = ConfigError


class UnknownProfile(ConfigError):
    """A profile name that no shipped profile has; the config that named it says where."""

    def __init__(self, ref: str, problem: str):
        super().__init__(ref, "", problem)

    def __str__(self) -> str:
        return self.problem

DECODE_ERROR_KINDS = (
    "framing",   # start/end bytes, escaping, a frame too short or too long
    "length",    # the length field disagrees with the frame
    "checksum",  # the checksum does not match: nothing of the frame is believed
    "unknown",   # a well-formed frame the profile has no reply for
    "field",     # a field is missing, out of the frame or of the wrong type
    "payload",   # the JSON / XML / text body does not parse
    "modbus",    # pymodbus could not decode the ADU, or the device sent an exception
    "transport", # HTTP status, connection or other transport-level refusal
)


class DecodeError(Exception):
    """A byte string the profile cannot turn into a reading; ``kind`` says why, for counting."""

    def __init__(self, kind: str, message: str):
        self.kind = kind
        super().__init__(f"{kind}: {message}")
