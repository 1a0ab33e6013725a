"""JSON responses that survive a poison value in the database.

SQLite stores infinities as REAL, and JSON has no way to say them: one such time in a row
made every listing of its table answer 500. A response that holds a non-finite number is
sent with ``null`` in its place (the console shows a placeholder for it); the common case
costs nothing more than before.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from fastapi.responses import JSONResponse

log = logging.getLogger("parkwatch.collector")


def finite(value: Any) -> Any:
    """``value`` with every non-finite float (inf, -inf, NaN) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


class SafeJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except ValueError:  # "Out of range float values are not JSON compliant"
            log.warning("a response held a non-finite number (a poison value in the "
                        "database); sent as null")
            return json.dumps(finite(content), ensure_ascii=False, allow_nan=False,
                              indent=None, separators=(",", ":")).encode("utf-8")
