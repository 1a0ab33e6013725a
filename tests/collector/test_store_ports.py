"""The SQLite stores are held to the store interfaces of ``collector.db.ports``.

A second backend (PostgreSQL) is an implementation of these protocols. For that to be
true, each SQLite store must offer exactly the protocol's methods, with the same
signatures: a public method the protocol lacks is one the collector could start to call
without a second backend knowing it must provide it; a protocol method the store lacks
(or spells differently) is a promise the default backend breaks.
"""

from __future__ import annotations

import inspect

import pytest

from collector.db import ports
from collector.downtime.store import DowntimeStore
from collector.fleet.store import FleetStore
from collector.store import Store
from collector.web.store_users import UserStore
from collector.workflow.store import WorkflowStore
from collector.workflow.store_batch import BatchStore

# How a SQLite store is opened is SQLite's own affair, not the interface's.
CONSTRUCTORS = {"on", "joined", "deferred", "flush"}
IMPLEMENTATIONS = [
    (ports.ScenarioDb, Store),
    (ports.WorkflowDb, WorkflowStore),
    (ports.WorkflowDb, BatchStore),
    (ports.DowntimeDb, DowntimeStore),
    (ports.UsersDb, UserStore),
    (ports.FleetDb, FleetStore),
]


def protocol_methods(proto) -> dict[str, inspect.Signature]:
    names = {n for c in proto.__mro__ if c.__module__ == ports.__name__
             for n, v in vars(c).items() if callable(v) and not n.startswith("_")}
    return {n: inspect.signature(getattr(proto, n)) for n in names}


def public_methods(cls) -> dict[str, inspect.Signature]:
    return {n: signature(f) for n, f in inspect.getmembers(cls, callable)
            if not n.startswith("_") and n not in CONSTRUCTORS and not inspect.isclass(f)}


def signature(f) -> inspect.Signature:
    """A ``@contextmanager`` generator gives a context manager, whatever it is annotated."""
    sig = inspect.signature(f)
    if inspect.isgeneratorfunction(getattr(f, "__wrapped__", None)):
        return sig.replace(return_annotation="AbstractContextManager")
    return sig


def shape(sig: inspect.Signature) -> list[tuple]:
    """Names, kinds and defaults, and the annotations as written (postponed, so strings)."""
    return [(p.name, p.kind, p.default, str(p.annotation)) for p in sig.parameters.values()
            ] + [str(sig.return_annotation)]


@pytest.mark.parametrize("proto, impl", IMPLEMENTATIONS,
                         ids=[f"{i.__name__}-{p.__name__}" for p, i in IMPLEMENTATIONS])
def test_each_store_offers_exactly_its_interface(proto, impl):
    wanted, offered = protocol_methods(proto), public_methods(impl)
    assert sorted(set(offered) - set(wanted)) == [], f"{impl.__name__}: not in {proto.__name__}"
    assert sorted(set(wanted) - set(offered)) == [], f"{impl.__name__}: missing"
    differ = {n: (str(wanted[n]), str(offered[n])) for n in wanted
              if shape(wanted[n]) != shape(offered[n])}
    assert differ == {}, f"{impl.__name__}: signatures differ from {proto.__name__}"


def test_the_core_interface_is_what_a_live_collector_needs():
    """The scenario's additions are not asked of the live collector's backend."""
    core, scenario = protocol_methods(ports.CoreDb), protocol_methods(ports.ScenarioDb)
    assert set(scenario) - set(core) == {"tune_for_batch", "tune_for_service",
                                         "save_setting", "outages_between", "counts"}
