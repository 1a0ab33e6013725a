"""Python's garbage collector during a scenario's run: out of the way of the year's objects.

A year of a large fleet keeps millions of objects alive (sites, tickets kept in memory, the
tracker's outages), and the collector's full collections walked every one of them each time
the heap had grown by a quarter, a fifth of a run's time, finding next to nothing: the
run's objects die by their reference counts. Inside ``quiet()`` the runner freezes what
each batch of happenings leaves alive (``gc.freeze``: never walked again until the end),
and the young generations are collected after 20,000 allocations instead of 700. At the
end the objects are handed back and the thresholds restored, so anything cyclic left over
is collected as usual. Nothing of this changes what the run computes or stores.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager

THRESHOLDS = (20_000, 20, 10)  # the young generations' (Python's default: 700, 10, 10)


@contextmanager
def quiet() -> Iterator[Callable[[], None]]:
    """The block runs under ``THRESHOLDS``; it calls what it is given after each batch."""
    before = gc.get_threshold()
    gc.set_threshold(*THRESHOLDS)
    try:
        yield gc.freeze
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
