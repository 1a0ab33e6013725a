"""Compact JSON, the one encoding of the project's messages: no spaces, UTF-8 kept as is.

The wire contract encodes with it and measures a ``detail`` by it, the agent re-encodes a
replayed message with it and the profile engine writes a JSON reply with it, so a size
limit means the same bytes everywhere.
"""

import json
from typing import Any


def compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
