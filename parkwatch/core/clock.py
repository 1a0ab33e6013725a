"""The clock type: a function answering seconds, passed to whatever needs the time.

Domain code never reads the time itself: it takes ``now`` or a ``Clock``, so tests and the
scenario runner drive it with a virtual clock. ``WALL`` is the epoch clock (it may step);
``MONOTONIC`` never steps back and paces waits and retries.
"""

import time
from collections.abc import Callable

Clock = Callable[[], float]

WALL: Clock = time.time
MONOTONIC: Clock = time.monotonic
