"""XML bodies (HTTP devices): parsing one safely, reading fields out of it, writing them.

A device's reply is untrusted: no DTD, no entity (a billion laughs), no external reference
(a file or URL read on the gateway); no device profile needs one. defusedxml refuses them,
but only in the pure-Python parser, twice as slow as ElementTree's C parser. A body
that provably holds no DTD (``no_dtd_possible``) has nothing for it to refuse, so it goes to
the C parser: the same tree and the same parse errors (tests/test_profile_fastpaths.py).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import defusedxml.ElementTree as SafeET

_ENCODING = re.compile(rb"""^(?:\xef\xbb\xbf)?<\?xml\s[^>]*?\bencoding\s*=\s*["']"""
                       rb"""([A-Za-z0-9._-]+)["']""")
_ASCII_ENCODINGS = frozenset((b"utf-8", b"utf8", b"us-ascii", b"ascii", b"iso-8859-1",
                              b"latin-1", b"latin1"))


def no_dtd_possible(body: bytes) -> bool:
    """True when the body provably holds no DTD, so no entity or external reference can be
    declared: a DTD starts with ``<!``. In UTF-16/32 those characters carry NUL bytes, and
    other encodings than the ASCII-compatible ones expat knows could spell them differently,
    so either goes the safe way; so do comments and CDATA (they start with ``<!`` too)."""
    if b"<!" in body or b"\x00" in body:
        return False
    head = body[:body.find(b">") + 1]
    known = _heads.get(head)
    if known is None:
        if len(_heads) >= 64:
            _heads.clear()
        m = _ENCODING.match(head) if b"encoding" in head else None
        known = _heads[head] = b"encoding" not in head or (
            m is not None and m.group(1).lower() in _ASCII_ENCODINGS)
    return known


_heads: dict[bytes, bool] = {}  # a device sends the same declaration (or root tag) each time


def parse(body: bytes) -> ET.Element:
    """The root element; raises what defusedxml raises (ParseError, DefusedXmlException)."""
    if no_dtd_possible(body):
        return ET.fromstring(body)
    return SafeET.fromstring(body, forbid_dtd=True)


def parse_defused(body: bytes) -> ET.Element:
    """Always through defusedxml: the reference the fast path is tested against."""
    return SafeET.fromstring(body, forbid_dtd=True)


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def find_any(root: ET.Element, path: tuple) -> ET.Element | None:
    """The element at ``path`` in any namespace (the simulator writes into its samples)."""
    el = root
    steps = list(path)
    while steps:
        name = steps.pop(0)
        index = steps.pop(0) if steps and isinstance(steps[0], int) else 0
        matches = [c for c in el if _local(c.tag) == name]
        if index >= len(matches):
            return None
        el = matches[index]
    return el


def element_path(path: tuple) -> str:
    """('hddList', 'hdd', 0, 'status') -> '{*}hddList/{*}hdd[1]/{*}status' (any namespace)."""
    parts: list[str] = []
    for step in path:
        if isinstance(step, int):
            parts[-1] += f"[{step + 1}]"
        else:
            parts.append("{*}" + step)
    return "/".join(parts)


def steps_of(path: tuple) -> tuple[tuple[str, int], ...]:
    steps: list[tuple[str, int]] = []
    for step in path:
        if isinstance(step, int):
            steps[-1] = (steps[-1][0], step)
        else:
            steps.append((step, 0))
    return tuple(steps)


_PATH_CHARS = frozenset("/*[@.{}")  # a name with one of these is not a plain tag to find()


def _child(el: ET.Element, want: str, index: int, plain: bool) -> ET.Element | None:
    """The index-th child tagged ``want``."""
    if plain and not index:  # Element.find of a plain tag runs in C: the first such child
        return el.find(want)
    for child in el:
        if child.tag == want:
            if not index:
                return child
            index -= 1
    return None


class Plan:
    """Where a message's XML fields are: each element on their paths is looked up once per
    body, in the root's namespace (the usual case: one default namespace), parents first."""

    def __init__(self) -> None:
        self.prefixes: dict[tuple, int] = {(): 0}  # steps so far -> slot in the element list
        self.walk: list[tuple[int, str, int, bool]] = []  # parent slot, name, index, plain

    def slot(self, path: tuple) -> int:
        at = 0
        steps = steps_of(path)
        for i, (name, index) in enumerate(steps):
            prefix = steps[:i + 1]
            if prefix not in self.prefixes:
                self.prefixes[prefix] = len(self.prefixes)
                self.walk.append((at, name, index, not _PATH_CHARS.intersection(name)))
            at = self.prefixes[prefix]
        return at

    def elements(self, root: ET.Element) -> list[ET.Element | None]:
        tag = root.tag
        ns = tag[:tag.index("}") + 1] if tag[:1] == "{" else ""
        els: list[ET.Element | None] = [root]
        append = els.append
        for parent, name, index, plain in self.walk:
            el = els[parent]
            if el is None:
                append(None)
            elif plain and not index:  # the usual step, inline: Element.find runs in C
                append(el.find(ns + name))
            else:
                append(_child(el, ns + name, index, plain))
        return els


def locate(path: tuple, plan: Plan) -> tuple[int, str | None, str]:
    """(the plan's slot of the element, the attribute or None, the any-namespace path)."""
    attr = path[-1][1:] if isinstance(path[-1], str) and path[-1].startswith("@") else None
    where = path[:-1] if attr else path
    return plan.slot(where), attr, element_path(where)


def field_reader(path: tuple, plan: Plan) -> Callable[[ET.Element, list], str | None]:
    """(root, the plan's elements) -> the text or attribute at ``path``, or None."""
    slot, attr, find_path = locate(path, plan)

    def read(root: ET.Element, els: list) -> str | None:
        el = els[slot]
        if el is None and find_path:  # elements from other namespaces than the root's
            el = root.find(find_path)
        return None if el is None else (el.get(attr) if attr else (el.text or "").strip())

    return read


def set_text(root: ET.Element, path: tuple, text: str) -> None:
    if isinstance(path[-1], str) and path[-1].startswith("@"):
        find_any(root, path[:-1]).set(path[-1][1:], text)
    else:
        find_any(root, path).text = text
