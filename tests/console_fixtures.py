"""A collector with a live simulated site and signed-up users, and a headless Chromium."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.config import AgentConfig, DeviceConfig
from agent.service import Agent
from collector.config import CollectorConfig
from collector.service import Collector
from collector.store import Store
from collector.web.auth import Users
from collector.workflow.config import WorkflowConfig
from parkwatch.core.broker import Broker
from simulators.barrier import BarrierSim
from tests.collector.test_api import SCENARIO as BUDGET_SCENARIO
from tests.helpers import fleet

PASSWORD = "correct-horse-1"
USERS = [("seat1", "seat", None), ("ops1", "member", "remote-ops"),
         ("boss", "manager", None), ("root", "admin", None)]
ARTIFACTS = Path(os.environ.get("PARKWATCH_ARTIFACTS",
                                Path(__file__).resolve().parent.parent / "test-artifacts"))
QUICK_WORKFLOW = WorkflowConfig(tick_s=0.3)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@dataclass
class Console:
    url: str
    collector: Collector
    sim: BarrierSim
    agent: Agent


@contextmanager
def running_console(tmp_path, mosquitto, projects=None):
    """A collector with the console's users, an agent and a simulated barrier (lot-1 of
    project p1); ``projects``: the collector's ``[projects]`` (default: p1 registered)."""
    db = tmp_path / "collector.db"
    users = Users(Store(db).db)
    for name, role, group in USERS:
        users.add(name, PASSWORD, role, group)
    broker = Broker("127.0.0.1", mosquitto.port, keepalive_s=10)
    collector = Collector(CollectorConfig(broker=broker, database=db, outage_threshold_s=2.0,
                                          api_port=0, workflow=QUICK_WORKFLOW,
                                          mqtt=mosquitto.collector_mqtt(),
                                          projects=projects or fleet()))
    collector.start()
    sim = BarrierSim().start()
    agent = Agent(AgentConfig("p1", "lot-1", broker, tmp_path / "agent", 0.5,
                              (DeviceConfig("gate-in", sim.path, poll_interval_s=0.1,
                                            timeout_s=0.1, offline_after=2),),
                              mosquitto.site_mqtt("p1", "lot-1")))
    agent.start()
    try:
        yield Console(f"http://127.0.0.1:{collector.port}", collector, sim, agent)
    finally:
        agent.stop()
        collector.stop()
        sim.stop()


@pytest.fixture
def console(tmp_path, mosquitto):
    with running_console(tmp_path, mosquitto) as c:
        yield c


@pytest.fixture
def scenario_console(tmp_path, mosquitto):
    """A collector over a database a scenario filled: project P001's 2026 outages."""
    from simulators.scenario import runner, spec

    path = tmp_path / "s.toml"
    path.write_text(BUDGET_SCENARIO)
    db = tmp_path / "collector.db"
    runner.run(spec.load(path), db)
    users = Users(Store(db).db)
    for name, role, group in USERS:
        users.add(name, PASSWORD, role, group)
    collector = Collector(CollectorConfig(broker=Broker("127.0.0.1", mosquitto.port),
                                          mqtt=mosquitto.collector_mqtt(), database=db,
                                          api_port=0, workflow=QUICK_WORKFLOW))
    collector.start()
    try:
        yield f"http://127.0.0.1:{collector.port}"
    finally:
        collector.stop()


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("chromium is not installed; .ci/run installs it (apt-get install chromium)")


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="en-GB",
                                  timezone_id="Asia/Shanghai")
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    yield pg
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}-last.png"), full_page=True)
    context.close()


def shot(pg, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(pg, url: str, username: str = "seat1") -> None:
    pg.goto(url + "/login")
    pg.fill("input[name=username]", username)
    pg.fill("input[name=password]", PASSWORD)
    pg.click("button[type=submit]")
    pg.wait_for_url(url + "/board")
