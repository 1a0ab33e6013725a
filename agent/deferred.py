"""Import a library without the standard modules it imports but may never use.

paho-mqtt imports ``ssl``, ``hashlib`` (OpenSSL's libcrypto), ``urllib.request`` (which
brings ``http.client`` and ``email``) and ``uuid`` at module level, and uses them only for
TLS, WebSockets, a SOCKS proxy or a client id it makes up: for an agent on a plain
connection that is about 6 MB of its RSS for nothing. ``import_deferring`` imports the
library while those names stand for ``Deferred`` modules, then takes them out of
``sys.modules`` again, so every other importer gets the real module as usual. The library
keeps its stand-ins: the first attribute it reads from one imports the real module (an
ordinary import, so there is still one ``ssl`` in the process) and from then on the
stand-in answers with the real module's attributes. What the library does is unchanged;
only when the modules load is.

paho reads two attributes of ``ssl`` on a plain connection too: every socket read or write
that would block evaluates ``except ssl.SSLWantReadError``. While nobody has imported ssl
no socket can raise those, so a stand-in can be told what to answer for such names while
its module is not imported anywhere in the process (``NeverRaised``); once it is, the
stand-in forwards to it like any other.
"""

from __future__ import annotations

import importlib
import sys
import types


class NeverRaised(Exception):
    """For an ``except`` on an exception class of a module nobody has imported: no code
    can raise that class, and nothing raises this one."""


class Deferred(types.ModuleType):
    """Stands for the module ``name`` until something reads an attribute of it; until the
    module is imported by anyone, the names in ``absent`` get the values given there."""

    def __init__(self, name: str, absent: dict[str, object] | None = None):
        super().__init__(name)
        self.__dict__["_deferred_real"] = None
        self.__dict__["_deferred_absent"] = dict(absent or {})

    def __getattr__(self, attr: str):  # only called for what the stand-in does not have
        real = self.__dict__["_deferred_real"]
        if real is None:
            absent = self.__dict__["_deferred_absent"]
            if attr in absent and sys.modules.get(self.__name__) in (None, self):
                return absent[attr]
            if sys.modules.get(self.__name__) is self:  # read during the import itself
                del sys.modules[self.__name__]
            real = self.__dict__["_deferred_real"] = importlib.import_module(self.__name__)
        return getattr(real, attr)

    @property
    def loaded(self) -> bool:
        return self.__dict__["_deferred_real"] is not None


def import_deferring(module: str, deferred: dict[str, dict[str, object]]
                     ) -> types.ModuleType:
    """``importlib.import_module(module)`` with each module named in ``deferred`` that is
    not imported yet standing for a ``Deferred`` module (given its ``absent`` names) while
    it runs, and only then. Call it before threads that might import one of them start."""
    if module in sys.modules:
        return sys.modules[module]
    placed: dict[str, Deferred] = {}
    for name in deferred:
        if name in sys.modules:
            continue
        placed[name] = sys.modules[name] = Deferred(name, deferred[name])
        parent_name, _, child = name.rpartition(".")
        if parent_name:
            # ``import urllib.request`` then reads ``urllib.request``: the attribute stays
            # (a later real import of the submodule replaces it, as any import does).
            parent = importlib.import_module(parent_name)
            if not hasattr(parent, child):
                setattr(parent, child, placed[name])
    try:
        return importlib.import_module(module)
    finally:
        for name, stand_in in placed.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]
