from __future__ import annotations

import sys
from pathlib import Path

import pytest

from simulators.broker import Mosquitto

pytest_plugins = ["tests.console_fixtures"]


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
