from __future__ import annotations

import sys
from pathlib import Path

import pytest

from simulators.broker import Mosquitto

pytest_plugins = ["tests.console_fixtures", "tests.pg_support"]

BACKENDS = ("sqlite", "postgresql")


def pytest_addoption(parser):
    parser.addoption("--backend", choices=BACKENDS, default="sqlite",
                     help="the collector database the backend-aware tests (those using "
                          "db_target or new_database; marker 'backend') run on: a SQLite file "
                          "(default) or a private PostgreSQL server the session starts")


def pytest_configure(config):
    config.addinivalue_line("markers", "backend: runs on the database --backend names")


def pytest_collection_modifyitems(config, items):
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if {"db_target", "new_database"} & names or (
                "rig" in names and item.nodeid.startswith("tests/faults/")):
            item.add_marker("backend")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Under xdist (``-n``): each test goes to whichever worker is free, but the fault suite
    all to one, in its order, as its one rig and its summary need. (A scheduler of our own:
    xdist 3.8's ``xdist_group`` marks do nothing under pytest 9, which renamed the node id
    attribute ``loadgroup`` rewrites.)"""
    from xdist.scheduler import LoadScopeScheduling

    class FaultSuiteTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "tests/faults/" if nodeid.startswith("tests/faults/") else nodeid

    return FaultSuiteTogether(config, log)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """xdist's controller: the fault suite's table, from the worker that ran it."""
    text = getattr(node, "workeroutput", {}).get("faults_summary")
    if text:
        node.config.stash[FAULTS_SUMMARY] = text


FAULTS_SUMMARY = pytest.StashKey[str]()


def pytest_terminal_summary(terminalreporter):
    text = terminalreporter.config.stash.get(FAULTS_SUMMARY, None)
    if text:
        terminalreporter.section("fault suite")
        terminalreporter.write_line(text)


@pytest.fixture
def new_database(request, tmp_path):
    """Make another empty collector database: ``new_database(name)`` gives a SQLite file in
    the test's folder or, under ``--backend postgresql``, a fresh PostgreSQL database's URL."""
    if request.config.getoption("backend") == "postgresql":
        make = request.getfixturevalue("pg_databases")
        return make
    return lambda name="collector": tmp_path / f"{name}.db"


@pytest.fixture
def db_target(new_database):
    """The test's collector database (see ``new_database``)."""
    return new_database("collector")


@pytest.fixture
def mosquitto(tmp_path):
    """A real mosquitto on a loopback port held for it, private to one test, locked down: give
    each client an account (``site_mqtt``/``collector_mqtt``/``mqtt_toml``/``login``)."""
    if not Mosquitto.available():
        pytest.fail("mosquitto is not installed; .ci/run installs it (apt-get install mosquitto)")
    broker = Mosquitto(workdir=tmp_path / "mosquitto").start()
    yield broker
    broker.close()


@pytest.fixture
def parkwatch_exe():
    """The installed ``parkwatch`` command of the interpreter running the tests."""
    exe = Path(sys.executable).parent / "parkwatch"
    if not exe.exists():
        pytest.fail(f"{exe} is missing: install the project first (pip install -e .[dev])")
    return str(exe)
