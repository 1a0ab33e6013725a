"""A counter kept in a file that survives restarts and power loss."""

from __future__ import annotations

import os
from pathlib import Path


class PersistentCounter:
    def __init__(self, path: Path):
        self.path = path
        try:
            self.value = int(path.read_text().strip() or 0)
        except FileNotFoundError:
            self.value = 0
        except ValueError:
            # A torn write can only happen to the temp file; a garbled counter file means
            # someone edited it. Start above anything we could have sent before.
            self.value = int(path.stat().st_mtime)

    def increment(self) -> int:
        self.value += 1
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            f.write(str(self.value))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        return self.value
