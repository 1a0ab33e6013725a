"""``parkwatch demo``: a broker, two simulated sites with their agents, and a collector.

Everything runs on 127.0.0.1 and in a temporary folder; nothing needs root. Each lot has a
barrier and one more device, all simulated from their firmware profiles: lot A a 5B/5D
barrier and an ASCII loop detector, lot B a 7E/7F barrier and an ISAPI-style camera. A
short script plays so that something happens: site B's barrier goes silent for 75 s (an
incident), site A's barrier reports a motor fault for 20 s (an outage, no incident), a car
waits on lot A's loop past its 20 s timeout, and a driver presses lot B's intercom.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from agent.config import AgentConfig, DeviceConfig
from agent.profiles import load_named
from agent.service import Agent
from collector.config import CollectorConfig, ProjectConfig
from collector.db.connection import open_db
from collector.service import Collector
from collector.web.auth import Users
from collector.workflow.config import WorkflowConfig
from parkwatch.core.broker import Broker
from simulators.broker import start_broker
from simulators.control import apply
from simulators.device import SimDevice
from simulators.net_sim import HttpSim
from simulators.serial_sim import SerialSim

log = logging.getLogger("parkwatch.demo")

DEMO_PASSWORD = "parkwatch-demo"
DEFAULT_ZONE = "Asia/Shanghai"
PROJECT = "demo"
DEMO_USERS = [("seat", "seat", None), ("ops", "member", "remote-ops"),
              ("manager", "manager", None), ("admin", "admin", None)]

# (site, device name, profile, lane)
DEVICES = {
    "lot-a": [("gate-in", "bg-5b-xor", "in-1"), ("loops-in", "loop-ascii-4ch", "in-1")],
    "lot-b": [("gate-in", "bg-7e7f-invsum", "in-1"), ("cam-in", "lpr-isapi-http", "in-1")],
}
SCRIPT = [  # (seconds after start, site, device, control commands: see simulators/control.py)
    (10, "lot-a", "loops-in", {"occupied": True, "channel": "1"}),
    (15, "lot-b", "gate-in", {"intercom": True}),
    (20, "lot-b", "gate-in", {"mode": "silent"}),
    (40, "lot-a", "gate-in", {"fault": "motor"}),
    (45, "lot-a", "loops-in", {"occupied": False, "channel": "1"}),
    (60, "lot-a", "gate-in", {"fault": None}),
    (95, "lot-b", "gate-in", {"mode": "normal"}),
]


def _simulate(site: str) -> tuple[dict[str, SimDevice], list, tuple[DeviceConfig, ...]]:
    sims, engines, configs = {}, [], []
    for name, profile, lane in DEVICES[site]:
        sim = sims[name] = SimDevice(load_named(profile), name)
        if sim.profile.kind == "http":
            engine = HttpSim(sim).start()
            where = {"url": engine.url}
        else:
            engine = SerialSim([sim]).start()
            where = {"port": engine.path}
        engines.append(engine)
        fast = sim.profile.behaviour.poll_interval_s > 1  # cameras: poll every 2 s
        configs.append(DeviceConfig(name=name, profile=profile, lane=lane,
                                    poll_interval_s=2.0 if fast else 0.5,
                                    timeout_s=1.0 if fast else 0.3, offline_after=3,
                                    loop_timeout_s=20.0, **where))
    return sims, engines, tuple(configs)


def demo_zone(now: float, asked: str | None = None) -> tuple[str, bool]:
    """The demo project's time zone and whether its 08:00-22:00 window is open at ``now``.
    Unless one is asked for: Asia/Shanghai while its window is open, else a zone where it
    is about midday, so that the SLA clocks the console shows are running."""
    def open_in(zone: str) -> bool:
        return 8 <= datetime.fromtimestamp(now, ZoneInfo(zone)).hour < 22

    if asked:
        return asked, open_in(asked)
    if open_in(DEFAULT_ZONE):
        return DEFAULT_ZONE, True
    east = (12 - datetime.fromtimestamp(now, timezone.utc).hour + 11) % 24 - 11  # -11..12
    zone = "UTC" if east == 0 else f"Etc/GMT{-east:+d}"  # Etc/GMT-8 is UTC+8
    return zone, open_in(zone)


def run(api_port: int = 8080, embedded_broker: bool = False,
        duration_s: float | None = None, zone: str | None = None) -> int:
    zone, window_open = demo_zone(time.time(), zone)
    workdir = Path(tempfile.mkdtemp(prefix="parkwatch-demo-"))
    # Locked down as shipped: no anonymous access, an account per site, and only the
    # collector's account may read the sites' topics and publish the clock.
    broker = start_broker(prefer_embedded=embedded_broker, workdir=workdir / "broker")
    b = Broker("127.0.0.1", broker.port, keepalive_s=10)
    collector = Collector(CollectorConfig(broker=b, database=workdir / "collector.db",
                                          mqtt=broker.collector_mqtt(),
                                          projects={PROJECT: ProjectConfig(
                                              timezone=zone, sites=tuple(DEVICES))},
                                          timezone=zone, workflow=WorkflowConfig(timezone=zone),
                                          api_port=api_port, site_silence_factor=3,
                                          anonymous_read=True))
    sims: dict[str, dict[str, SimDevice]] = {}
    engines, agents = [], []
    stop = threading.Event()
    try:
        try:
            collector.start()
        except RuntimeError as e:
            print(f"parkwatch demo: {e}; try --port with another number", file=sys.stderr)
            return 1
        users = Users(open_db(workdir / "collector.db"))
        for name, role, group in DEMO_USERS:
            users.add(name, DEMO_PASSWORD, role, group)
        for site in DEVICES:
            sims[site], site_engines, devices = _simulate(site)
            engines += site_engines
            agent = Agent(AgentConfig(
                project=PROJECT, site=site, broker=b, state_dir=workdir / site,
                heartbeat_interval_s=2.0, devices=devices,
                mqtt=broker.site_mqtt(PROJECT, site)))
            agent.start()
            agents.append(agent)
        url = f"http://127.0.0.1:{collector.port}"
        window = "open now, so SLA clocks run" if window_open else \
            "closed now: clocks wait for 08:00 (--timezone picks another)"
        users_list = ", ".join(u[0] for u in DEMO_USERS)
        print(f"""
parkwatch demo is running ({broker.name} on port {broker.port}, files in {workdir})
  broker:             locked down: no anonymous clients; each site has its own account
                      and may use only its own topics (accounts in {broker.workdir})
  sites and devices:  {url}/api/sites
  incidents:          {url}/api/incidents
  outages:            {url}/api/outages
  API docs:           {url}/docs
  web console:        {url}/  (sign in as {users_list}; password {DEMO_PASSWORD})
  project time zone:  {zone}: its 08:00-22:00 window is {window}
In 20 s lot-b's barrier goes silent for 75 s: an incident opens after 60 s and closes
when it answers again. lot-a's barrier reports a motor fault for 20 s: an outage only.
A car waits on lot-a's loop for 35 s (a loop_timeout event after 20 s) and a driver
presses lot-b's intercom (an intercom event); the agents log both.
Press Ctrl-C to stop.
""", flush=True)
        threading.Thread(target=_play, args=(sims, stop), daemon=True).start()
        stop.wait(duration_s)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        print("stopping…", flush=True)
        collector.stop()  # first, so the demo's own shutdown is not recorded as an outage
        for agent in agents:
            agent.stop()
        for engine in engines:
            engine.stop()
        broker.stop()
    return 0


def _play(sims: dict[str, dict[str, SimDevice]], stop: threading.Event) -> None:
    t0 = time.monotonic()
    for at, site, device, commands in SCRIPT:
        if stop.wait(max(0.0, t0 + at - time.monotonic())):
            return
        apply(sims[site][device], commands)
        log.info("demo script: %s %s %s", site, device, commands)
