"""``parkwatch demo``: a broker, two simulated sites with their agents, and a collector.

Everything runs on 127.0.0.1 and in a temporary folder; nothing needs root. A short
script of faults plays so that something happens: site B's barrier goes silent for 75 s
(an incident), site A's barrier reports a motor fault for 20 s (an outage, no incident).
"""

from __future__ import annotations

import logging
import sys
import tempfile
import threading
import time
from pathlib import Path

from agent.config import AgentConfig, Broker, DeviceConfig
from agent.service import Agent
from collector.auth import Users
from collector.config import CollectorConfig
from collector.service import Collector
from collector.store import open_db
from simulators.barrier import BarrierSim
from simulators.broker import start_broker

log = logging.getLogger("parkwatch.demo")

DEMO_PASSWORD = "parkwatch-demo"
DEMO_USERS = [("seat", "seat", None), ("ops", "member", "remote-ops"),
              ("manager", "manager", None), ("admin", "admin", None)]

SCRIPT = [  # (seconds after start, site index, action, argument)
    (20, 1, "silent", True),
    (40, 0, "fault", "motor"),
    (60, 0, "fault", None),
    (95, 1, "silent", False),
]


def run(api_port: int = 8080, embedded_broker: bool = False,
        duration_s: float | None = None) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="parkwatch-demo-"))
    broker = start_broker(prefer_embedded=embedded_broker)
    b = Broker("127.0.0.1", broker.port, keepalive_s=10)
    collector = Collector(CollectorConfig(broker=b, database=workdir / "collector.db",
                                          api_port=api_port, site_silence_factor=3,
                                          anonymous_read=True))
    sims, agents = [], []
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
        for site in ("lot-a", "lot-b"):
            sim = BarrierSim().start()
            sims.append(sim)
            agent = Agent(AgentConfig(
                project="demo", site=site, broker=b, state_dir=workdir / site,
                heartbeat_interval_s=2.0,
                devices=(DeviceConfig("gate-in", sim.path, poll_interval_s=0.5,
                                      timeout_s=0.3, offline_after=3),)))
            agent.start()
            agents.append(agent)
        url = f"http://127.0.0.1:{collector.port}"
        users_list = ", ".join(u[0] for u in DEMO_USERS)
        print(f"""
parkwatch demo is running ({broker.name} on port {broker.port}, files in {workdir})
  sites and devices:  {url}/api/sites
  incidents:          {url}/api/incidents
  outages:            {url}/api/outages
  API docs:           {url}/docs
  web console:        {url}/  (sign in as {users_list}; password {DEMO_PASSWORD})
In 20 s lot-b's barrier goes silent for 75 s: an incident opens after 60 s and closes
when it answers again. lot-a's barrier reports a motor fault for 20 s: an outage only.
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
        for sim in sims:
            sim.stop()
        broker.stop()
    return 0


def _play(sims: list[BarrierSim], stop: threading.Event) -> None:
    t0 = time.monotonic()
    for at, index, action, arg in SCRIPT:
        if stop.wait(max(0.0, t0 + at - time.monotonic())):
            return
        sim = sims[index]
        if action == "silent":
            sim.go_silent(arg)
        else:
            sim.set_fault(arg)
        log.info("demo script: lot-%s barrier %s %s", "ab"[index], action, arg)
