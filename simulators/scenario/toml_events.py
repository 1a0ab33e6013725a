"""A scenario file's ``[[event]]`` tables parsed a few thousand at a time.

A year of 100,000 sites is a million events, about 100 MB of TOML; parsed at once into
dicts (and a ``Section`` for each) it took 1.9 GiB before the first event was checked. Here
the file's other tables (the head) are parsed as one TOML document and the events in chunks
of ``CHUNK`` tables, each a TOML document of its own, turned into ``Section``s named
``event[i].`` as ``Section.tables`` names them, and let go once checked.

A file this cannot cut safely (a multi-line string, whose lines might look like table
headers) or that does not parse is read by ``load_toml`` in one piece, which also gives
TOML mistakes their usual message.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from parkwatch.core.conf import Section, load_toml, read_capped

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CHUNK = 5000  # event tables per TOML document
_HEADER = re.compile(r"^[ \t]*\[", re.M)
_EVENT = re.compile(r"[ \t]*\[\[[ \t]*event[ \t]*\]\][ \t]*(#.*)?$")


def load(path: str | Path, max_bytes: int) -> tuple[Section, Iterable[Section]]:
    """The file's head, and its event tables in order, one ``Section`` each."""
    path = Path(path)
    try:
        text = read_capped(path, max_bytes).decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or '"""' in text or "'''" in text:
        return _whole(path, max_bytes)
    head, chunks = _cut(text)
    try:
        data = tomllib.loads(head)
    except tomllib.TOMLDecodeError:
        return _whole(path, max_bytes)
    if "event" in data:  # e.g. a plain [event] table: not the array the runner reads
        return _whole(path, max_bytes)
    return Section(data, path, ""), _events(path, max_bytes, text, chunks)


def _whole(path: Path, max_bytes: int) -> tuple[Section, list[Section]]:
    top = load_toml(path, max_bytes=max_bytes)
    return top, top.tables("event", optional=True)


def _cut(text: str) -> tuple[str, list[tuple[int, int]]]:
    """The head (every table but the events) and where the events' chunks lie."""
    head, chunks, first, count = [], [], None, 0
    starts = [m.start() for m in _HEADER.finditer(text)] + [len(text)]
    head.append(text[:starts[0]])
    for a, b in zip(starts, starts[1:], strict=False):
        line_end = text.find("\n", a, b)
        if _EVENT.match(text, a, line_end if line_end >= 0 else b):
            first = a if first is None else first
            count += 1
            if count == CHUNK:
                chunks.append((first, b))
                first, count = None, 0
        else:
            if first is not None:  # the events so far stay in order before those after
                chunks.append((first, a))
                first, count = None, 0
            head.append(text[a:b])
    if first is not None:
        chunks.append((first, len(text)))
    return "".join(head), chunks


def _events(path: Path, max_bytes: int, text: str,
            chunks: list[tuple[int, int]]) -> Iterator[Section]:
    i = 0
    for a, b in chunks:
        try:
            tables = tomllib.loads(text[a:b]).get("event", [])
        except tomllib.TOMLDecodeError:  # the file's own error, or a cut in the wrong place
            yield from _whole(path, max_bytes)[1][i:]
            return
        for table in tables:
            yield Section(table, path, f"event[{i}].")
            i += 1
