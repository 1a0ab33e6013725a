"""A whole site on real parts for the fault suite: mosquitto (durable), a collector process,
an agent process whose uplink runs through a ``NetProxy``, and a barrier on a pty.

The rig reads the collector's SQLite file and the agent's outbox read-only, the way an
auditor would, and talks to the collector's HTTP API. It never reaches into a process.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx

from agent.profiles import load_named
from simulators.barrier import BarrierSim
from simulators.device import SimDevice
from simulators.net_sim import HttpSim
from simulators.netproxy import NetProxy
from simulators.ports import log_size, port_in_log
from tests.agent_support import durable_mosquitto
from tests.helpers import fleet_toml, rows, wait_for

PROJECT, SITE = "p1", "lot-1"
HEARTBEAT_S = 0.5
SILENCE_FACTOR = 3          # a silent site is down after 1.5 s
THRESHOLD_S = 3.0           # an outage longer than this is an incident
KEEPALIVE_S = 5             # the agent's MQTT keepalive (the config's minimum)
DEVICES = ("gate-in", "cam-1")  # a barrier on a pty, a camera over HTTP


def ro(path: Path) -> sqlite3.Connection:
    """A read-only connection to a live WAL database."""
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)


class Camera(HttpSim):
    """An LPR camera over HTTP that can be told to answer with an error page instead."""

    def __init__(self):
        super().__init__(SimDevice(load_named("lpr-isapi-http"), "cam-1"))
        self.error_page: tuple[int, bytes] | None = None  # (HTTP status, body)
        self.requests = 0
        self.error_pages = 0

    def _handle(self, h) -> None:
        self.requests += 1
        page = self.error_page
        if page is None:
            super()._handle(h)
            return
        self.error_pages += 1
        status, body = page
        h.send_response(status)
        h.send_header("Content-Type", "text/html; charset=utf-8")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)


class Rig:
    def __init__(self, root: Path, exe: str, database: str | Path | None = None):
        """``database``: the collector's (a PostgreSQL URL under ``--backend postgresql``);
        by default a SQLite file in ``root``."""
        self.root = root
        self.exe = exe
        root.mkdir(parents=True, exist_ok=True)
        self.broker = durable_mosquitto(root / "mosquitto")
        # Connections and disconnections in mosquitto.log: what a failure is read from.
        self.broker.conf.write_text(self.broker.conf.read_text().replace(
            "log_type error\n", "log_type error\nlog_type warning\nlog_type notice\n"
            "log_timestamp_format %H:%M:%S\n"))
        self.broker.start()
        self.proxy = NetProxy(self.broker.port).start()
        self.sim = BarrierSim().start()
        self.camera = Camera().start()
        self.db_path = database or root / "collector.db"
        self.state_dir = root / "agent-state"
        self.outbox_path = self.state_dir / f"{PROJECT}.{SITE}.outbox.db"
        self.collector_cfg = root / "collector.toml"
        self.collector_cfg.write_text(
            f'broker = "{self.broker.url}"\ndatabase = "{self.db_path}"\n'
            f"outage_threshold_s = {THRESHOLD_S}\nsite_silence_factor = {SILENCE_FACTOR}\n"
            "[api]\nport = 0\nanonymous_read = true\n"  # each run's port is read from its log
            f"[mqtt]\n{self.broker.mqtt_toml()}{fleet_toml({PROJECT: [SITE]})}")
        self.agent_cfg = root / "agent.toml"
        self.write_agent_config()
        self.api = httpx.Client(timeout=5)  # pointed at each collector run's port
        self.collector: subprocess.Popen | None = None
        self.agent: subprocess.Popen | None = None
        self.procs: list[subprocess.Popen] = []
        self.duplicates_before = 0  # redeliveries counted by collector runs that are gone
        self.agent_env: dict[str, str] = {}
        self.unsent = 0  # events stored, then dropped by a full outbox to make room

    def write_agent_config(self, outbox_max_mb: float | None = None) -> None:
        self.outbox_max_mb = outbox_max_mb
        outbox = f"[outbox]\nmax_mb = {outbox_max_mb}\n" if outbox_max_mb else ""
        self.agent_cfg.write_text(
            f'project = "{PROJECT}"\nsite = "{SITE}"\n'
            f'broker = "mqtt://127.0.0.1:{self.proxy.port}"\n'
            f"heartbeat_interval_s = {HEARTBEAT_S}\nkeepalive_s = {KEEPALIVE_S}\n"
            f'state_dir = "{self.state_dir}"\n\n'
            "[mqtt]\nreconnect_min_s = 0.1\nreconnect_max_s = 0.4\nconnect_timeout_s = 2\n"
            f"{self.broker.mqtt_toml(PROJECT, SITE)}{outbox}\n"
            f'[[devices]]\nname = "gate-in"\nport = "{self.sim.path}"\npoll_interval_s = 0.1\n'
            "timeout_s = 0.3\noffline_after = 3\n\n"
            f'[[devices]]\nname = "cam-1"\nprofile = "lpr-isapi-http"\nurl = "{self.camera.url}"\n'
            "poll_interval_s = 0.3\ntimeout_s = 0.5\noffline_after = 3\n")

    # --- processes -----------------------------------------------------------------------

    def start_collector(self) -> None:
        offset = log_size(self.root / "collector.log")
        self.collector = self._spawn("collector", [self.exe, "collector", "run", "--config",
                                                   str(self.collector_cfg)])
        port = port_in_log(self.root / "collector.log", self.collector, offset=offset)
        self.api.base_url = f"http://127.0.0.1:{port}"
        wait_for(lambda: (self.health() or {}).get("mqtt_connected"), 30, 0.05,
                 what="the collector to connect")

    def kill_collector(self, count: bool = True) -> None:
        """SIGKILL; ``count``: first read its duplicate count (not from a busy process)."""
        if count:
            self.duplicates_before += (self.health() or {}).get("duplicates", 0)
        self.collector.send_signal(signal.SIGKILL)
        self.collector.wait(10)

    def start_agent(self, **env: str) -> None:
        self.agent_env = env
        self.agent = self._spawn("agent", [self.exe, "agent", "run", "--config",
                                           str(self.agent_cfg)], env)

    def restart_agent(self, outbox_max_mb: float | None = None, **env: str) -> None:
        """Stop the agent cleanly (SIGTERM), then start it with a new config/environment."""
        self.agent.terminate()
        self.agent.wait(10)
        self.write_agent_config(outbox_max_mb)
        self.start_agent(**env)

    def kill_agent(self) -> None:
        self.agent.send_signal(signal.SIGKILL)
        self.agent.wait(10)

    def _spawn(self, name: str, argv: list[str], env: dict | None = None) -> subprocess.Popen:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                stderr=open(self.root / f"{name}.log", "ab"),
                                env={**os.environ, **(env or {})})
        self.procs.append(proc)
        return proc

    def start(self) -> Rig:
        self.start_collector()
        self.start_agent()
        self.wait_online()
        self.settle()
        return self

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.proxy.stop()
        self.sim.stop()
        self.camera.stop()
        self.broker.stop()
        self.api.close()

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # --- the collector, as an operator sees it ---------------------------------------------

    def health(self) -> dict | None:
        try:
            return self.api.get("/healthz", timeout=2).json()
        except httpx.HTTPError:
            return None

    def site(self) -> dict | None:
        try:
            sites = self.api.get("/api/sites").json()
        except httpx.HTTPError:
            return None
        return next((s for s in sites if (s["project"], s["site"]) == (PROJECT, SITE)), None)

    def gate_state(self) -> str | None:
        s = self.site()
        d = [d for d in (s or {}).get("devices", []) if d["device"] == "gate-in"]
        return d[0]["state"] if d else None

    def device_state(self, name: str) -> str | None:
        s = self.site()
        d = [d for d in (s or {}).get("devices", []) if d["device"] == name]
        return d[0]["state"] if d else None

    def wait_online(self, timeout: float = 20) -> None:
        wait_for(lambda: (self.site() or {}).get("state") == "online"
                 and self.gate_state() == "ok" and self.device_state("cam-1") == "ok",
                 timeout, what="the site online, its devices ok")

    def recover(self) -> None:
        """Undo whatever a failed case may have left: every part running and passing,
        the devices normal, the site online and every event delivered."""
        self.proxy.set_mode("pass")
        self.sim.set_fault(None)
        self.sim.sim.set_mode("normal")
        self.camera.error_page = None
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
        if self.broker.proc.poll() is not None:
            self.broker.start()
        if self.collector is None or self.collector.poll() is not None:
            self.start_collector()
        if self.agent is None or self.agent.poll() is not None:
            self.start_agent(**self.agent_env)
        if self.outbox_max_mb or self.agent_env:  # back to the usual agent
            self.wait_online()
            self.restart_agent()
        self.wait_online()
        try:
            self.settle()
        except AssertionError:  # a failed case lost events: it said so; start from here
            self.unsent = self.emitted() - self.received()

    def query(self, sql: str, params=()) -> list[dict]:
        return rows(self.db_path, sql, params)

    def outages(self, kind: str | None = None, after_id: int = 0) -> list[dict]:
        sql = "SELECT * FROM outages WHERE id > ?"
        params: list = [after_id]
        if kind:
            sql += " AND kind = ?"
            params.append(kind)
        return self.query(sql + " ORDER BY started_at", params)

    def incidents(self, after_outage: int = 0) -> list[dict]:
        return self.query("SELECT * FROM incidents WHERE outage_id > ? AND state != "
                          "'withdrawn' ORDER BY id", (after_outage,))

    def last_outage_id(self) -> int:
        return self.query("SELECT COALESCE(MAX(id), 0) AS n FROM outages")[0]["n"]

    def received(self) -> int:
        """Events the collector recorded (each (boot, seq) once, across its restarts)."""
        return self.query("SELECT COUNT(*) AS n FROM seen_events WHERE project = ? AND "
                          "site = ?", (PROJECT, SITE))[0]["n"]

    def duplicates(self) -> int:
        """Deliveries the collector recognised as copies and dropped, over all its runs."""
        return self.duplicates_before + (self.health() or {}).get("duplicates", 0)

    def site_events(self, kind: str) -> list[dict]:
        return self.query("SELECT * FROM site_events WHERE kind = ? ORDER BY id", (kind,))

    def snapshot(self) -> list[dict]:
        """Everything an operator relies on, to compare before and after bad input."""
        return (self.query("SELECT * FROM outages ORDER BY id")
                + self.query("SELECT * FROM incidents ORDER BY id")
                + self.query("SELECT * FROM site_events ORDER BY id")
                + self.query("SELECT project, site, boot, seq FROM seen_events"))

    # --- the agent, read from its outbox like a stranger ---------------------------------------

    def _outbox(self, sql: str, default=0):
        if not self.outbox_path.exists():
            return default
        db = ro(self.outbox_path)
        try:
            row = db.execute(sql).fetchone()
        except sqlite3.OperationalError:  # not created yet
            return default
        finally:
            db.close()
        return default if row is None or row[0] is None else row[0]

    def emitted(self) -> int:
        """Events the agent has ever stored for sending (AUTOINCREMENT keeps the count)."""
        return self._outbox("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'")

    def pending(self) -> int:
        return self._outbox("SELECT COUNT(*) FROM outbox")

    def dropped_pending(self) -> int:
        return self._outbox("SELECT SUM(count) FROM dropped")

    def settle(self, timeout: float = 20) -> None:
        """Wait until everything the agent stored for sending has reached the collector."""
        def done():
            h = self.health()
            return (h is not None and h["backlog"] == 0 and self.pending() == 0
                    and self.received() == self.emitted() - self.unsent)
        try:
            wait_for(done, timeout, 0.1, what="the agent's events to reach the collector")
        except AssertionError as e:  # the counts at the deadline, and what was refused
            raise AssertionError(f"{e} (emitted {self.emitted()}, unsent {self.unsent}, "
                                 f"pending {self.pending()}, received {self.received()}; "
                                 f"rejected {(self.health() or {}).get('rejected_by_code')})"
                                 ) from None

    # --- faults --------------------------------------------------------------------------

    def connections(self) -> int:
        """Connections the broker accepted from the agent, as its log says."""
        return self.log("agent").count("accepted us")

    def cut(self, mode: str = "drop") -> float:
        self.proxy.set_mode(mode)
        return time.time()

    def heal(self) -> float:
        self.proxy.set_mode("pass")
        return time.time()

    def toggle_fault(self, code: str = "motor") -> tuple[float, float]:
        """One fault and its recovery, each seen by the agent (2 events)."""
        at = self._set_fault(code)
        return at, self._set_fault(None)

    def set_gate_fault(self, code: str | None) -> float:
        """Fault the gate (``None``: clear it); returns once the agent has seen it."""
        return self._set_fault(code)

    def _set_fault(self, code: str | None) -> float:
        # Answers are made under the device's lock: the first request after set_fault gets
        # the new state, and the agent asks again only once it has handled that answer.
        q = self.sim.queries
        self.sim.set_fault(code)
        at = time.time()
        wait_for(lambda: self.sim.queries >= q + 2, 10, 0.01, what="the agent to poll")
        return at
