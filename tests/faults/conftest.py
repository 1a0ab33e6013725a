"""Fixtures of the fault suite, and the summary table printed at the end of its run."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from simulators.broker import Mosquitto
from tests.faults import results
from tests.faults.rig import Rig

ARTIFACTS = Path(os.environ.get("PARKWATCH_ARTIFACTS",
                                Path(__file__).resolve().parents[2] / "test-artifacts"))
SUMMARY = ARTIFACTS / "faults-summary.txt"


def exe() -> str:
    path = Path(sys.executable).parent / "parkwatch"
    if not path.exists():
        pytest.fail(f"{path} is missing: install the project first (pip install -e .[dev])")
    if not Mosquitto.available():
        pytest.fail("mosquitto is not installed; .ci/run installs it")
    return str(path)


def make_rig(tmp_path_factory, name: str, database=None):
    rig = Rig(tmp_path_factory.mktemp(name), exe(), database)
    try:
        rig.start()
    except BaseException:
        rig.stop()
        raise
    return rig


@pytest.fixture(scope="session")
def rig(tmp_path_factory, request):
    """One site for the whole suite: the faults hit it one after another, as they would a
    site in its life. Each case counts from where the last left it. Its database is the
    one ``--backend`` names."""
    database = None
    if request.config.getoption("backend") == "postgresql":
        database = request.getfixturevalue("pg_session_database")
    r = make_rig(tmp_path_factory, "site", database)
    yield r
    r.stop()


@pytest.fixture(autouse=True)
def _recovered(request):
    """Each case starts from a healthy site, whatever the case before it left behind."""
    if "rig" in request.fixturenames:
        request.getfixturevalue("rig").recover()
    yield


def pytest_collection_modifyitems(config, items):
    """The summary runs after every fault test, whatever the file order."""
    last = [i for i in items if i.nodeid.endswith("test_summary_table")]
    for item in last:
        items.remove(item)
        items.append(item)


def write_summary() -> str:
    text = results.table(results.RESULTS)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    SUMMARY.write_text(text + "\n")
    return text


def pytest_sessionfinish(session):
    """In an xdist worker: hand the table to the controller, which prints it
    (``tests/conftest.py``)."""
    out = getattr(session.config, "workeroutput", None)
    if out is not None and results.RESULTS:
        out["faults_summary"] = f"{write_summary()}\n(also in {SUMMARY})"


def pytest_terminal_summary(terminalreporter):
    if not results.RESULTS:
        return
    terminalreporter.section("fault suite")
    terminalreporter.write_line(write_summary())
    terminalreporter.write_line(f"(also in {SUMMARY})")
