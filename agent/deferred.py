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
"""

from __future__ import annotations

import importlib
import sys
import types


class Deferred(types.ModuleType):
    """Stands for the module ``name`` until something reads an attribute of it."""

    def __init__(self, name: str):
        super().__init__(name)
        self.__dict__["_deferred_real"] = None

    def __getattr__(self, attr: str):  # only called for what the stand-in does not have
        real = self.__dict__["_deferred_real"]
        if real is None:
            if sys.modules.get(self.__name__) is self:  # read during the import itself
                del sys.modules[self.__name__]
            real = self.__dict__["_deferred_real"] = importlib.import_module(self.__name__)
        return getattr(real, attr)

    @property
    def loaded(self) -> bool:
        return self.__dict__["_deferred_real"] is not None


def import_deferring(module: str, deferred: tuple[str, ...]) -> types.ModuleType:
    """``importlib.import_module(module)`` with each of ``deferred`` not imported yet
    standing for a ``Deferred`` module while it runs (and only then). Call it before the
    threads that might import one of them start."""
    if module in sys.modules:
        return sys.modules[module]
    placed: dict[str, Deferred] = {}
    for name in deferred:
        if name in sys.modules:
            continue
        placed[name] = sys.modules[name] = Deferred(name)
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
