"""Firmware profiles: device protocols as data, one generic engine to speak them.

``load(path)`` / ``load_named(ref)`` read and validate a profile; ``Codec(profile)`` builds
requests and decodes replies into fields and a ``Reading`` (ok / fault / occupied);
``run_golden(profile)`` checks the profile's recorded vectors. See docs/profiles.md.
"""

from __future__ import annotations

from pathlib import Path

from agent.profiles.checks import run_golden
from agent.profiles.engine import Codec, Decoded
from agent.profiles.errors import DecodeError, ProfileError, UnknownProfile
from agent.profiles.loader import available, load, resolve
from agent.profiles.schema import Profile
from agent.profiles.state import Fault, Reading


def load_named(ref: str, base: Path | None = None) -> Profile:
    """A shipped profile by name, or a profile file by path (relative to ``base``)."""
    try:
        path = resolve(ref, base)
    except FileNotFoundError as e:
        raise UnknownProfile(ref, str(e)) from None
    if not path.is_file():
        raise UnknownProfile(ref, f"no profile file {path}")
    return load(path)


__all__ = ["Codec", "DecodeError", "Decoded", "Fault", "Profile", "ProfileError", "Reading",
           "UnknownProfile", "available", "load", "load_named", "resolve", "run_golden"]
