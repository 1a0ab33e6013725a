"""Plausibility attacks on real parts: mosquitto, a ``parkwatch collector run`` process and
two sites that speak the agent's protocol (status with its Will, heartbeats, QoS 1 events),
one of them in another project. Before each attack the rig makes one real outage with an
incident and its uplink record, so there is something to protect; ``figures`` is what an
attack must not change, read from the collector's database (read-only) and its API.
"""

from __future__ import annotations

import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt

from parkwatch.core import wire
from simulators.ports import log_size, port_in_log
from tests.helpers import wait_for

BEAT_S = 0.3
THRESHOLD_S = 2.0
YEAR = time.gmtime().tm_year


def midday_zone() -> str:
    """A time zone where it is around noon now, so that outages fall in the assessed
    window (08:00-22:00) and the budget figures are not zero whenever the test runs."""
    k = (12 - time.gmtime().tm_hour + 11) % 24 - 11  # hours east of UTC, -11..12
    return "UTC" if k == 0 else f"Etc/GMT{-k:+d}"


class Site:
    """One gateway: a paho client with the agent's Will, status and heartbeats."""

    def __init__(self, broker, project: str, site: str, boot: int = 5):
        # A compromised gateway has its own account: that is what these attacks use.
        self.broker, self.port = broker, broker.port
        self.project, self.site, self.boot = project, site, boot
        self.seq = 0
        self.beating = threading.Event()
        self.client: mqtt.Client | None = None
        self._stop = threading.Event()
        threading.Thread(target=self._beat, daemon=True).start()

    def topic(self, channel: str) -> str:
        return wire.topic(self.project, self.site, channel)

    def connect(self, boot: int) -> None:
        self.boot, self.seq, self.connected_at = boot, 0, time.time()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{self.site}-{boot}",
                        protocol=mqtt.MQTTv311)
        will = wire.Status(self.project, self.site, "offline", boot, time.time(), "will")
        c.will_set(self.topic(wire.STATUS), wire.encode(will), qos=1, retain=True)
        self.broker.login(c, self.project, self.site)
        c.connect("127.0.0.1", self.port, keepalive=5)
        c.loop_start()
        self.client = c
        online = wire.Status(self.project, self.site, "online", boot, time.time(), "connect")
        c.publish(self.topic(wire.STATUS), wire.encode(online), qos=1, retain=True)
        self.beating.set()

    def cut(self) -> float:
        """The uplink dies silently: no Will, no more heartbeats."""
        self.beating.clear()
        self.client.loop_stop()
        self.client.socket().close()
        return time.time()

    def event(self, kind: str, **fields) -> None:
        self.seq += 1
        ev = wire.Event(self.project, self.site, self.boot, self.seq, time.time(), kind,
                        **fields)
        self.client.publish(self.topic(wire.EVENT), wire.encode(ev), qos=1).wait_for_publish(5)

    def _beat(self) -> None:
        while not self._stop.wait(BEAT_S):
            if self.beating.is_set():
                self.seq += 1
                hb = wire.Heartbeat(self.project, self.site, self.boot, self.seq, time.time(),
                                    BEAT_S, {"gate": wire.DeviceReport("ok")})
                self.client.publish(self.topic(wire.HEARTBEAT), wire.encode(hb))

    def stop(self) -> None:
        self._stop.set()
        if self.client is not None:
            self.client.loop_stop()
            self.client.disconnect()


class Rig:
    def __init__(self, root: Path, broker, exe: str):
        self.root, self.broker = root, broker
        self.exe, self.db = exe, root / "collector.db"
        self.api = httpx.Client(timeout=5)  # pointed at each collector run's port
        self.start_collector("parkwatch-collector")
        self.s1 = Site(broker, "P1", "S1")
        self.s2 = Site(broker, "P2", "S2")
        self.s1.connect(5)
        self.s2.connect(5)
        wait_for(lambda: len(self.sites()) == 2, 10, what="both sites heard")

    def start_collector(self, client_id: str) -> None:
        cfg = self.root / "collector.toml"
        projects = "".join(f'[projects.{p}]\ntimezone = "{midday_zone()}"\nsites = ["{s}"]\n'
                           for p, s in (("P1", "S1"), ("P2", "S2")))
        cfg.write_text(f'broker = "mqtt://127.0.0.1:{self.broker.port}"\n'
                       f'database = "{self.db}"\nclient_id = "{client_id}"\n'
                       f"outage_threshold_s = {THRESHOLD_S}\nsite_silence_factor = 3\n"
                       "[api]\nport = 0\nanonymous_read = true\n"
                       f"[mqtt]\n{self.broker.mqtt_toml()}{projects}")
        log = self.root / "collector.log"
        offset = log_size(log)
        with open(log, "ab") as err:
            self.proc = subprocess.Popen([self.exe, "collector", "run", "--config", str(cfg)],
                                         stdout=subprocess.DEVNULL, stderr=err)
        self.api.base_url = f"http://127.0.0.1:{port_in_log(log, self.proc, offset=offset)}"
        wait_for(lambda: (self.health() or {}).get("mqtt_connected"), 30,
                 what="the collector to connect")

    def stop_collector(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)

    def health(self) -> dict | None:
        try:
            return self.api.get("/healthz", timeout=2).json()
        except httpx.HTTPError:
            return None

    def sites(self) -> list[dict]:
        return self.api.get("/api/sites").json()

    def rejected(self, code: str) -> int:
        return (self.health() or {}).get("rejected_by_code", {}).get(code, 0)

    def query(self, sql: str) -> list[tuple]:
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    def real_outage(self, site: Site) -> None:
        """A real cut of ``site`` longer than the threshold, then its agent's record."""
        n = len(self.query("SELECT id FROM incidents"))
        start = site.cut()
        wait_for(lambda: len(self.query("SELECT id FROM incidents")) > n, 15,
                 what="the real incident")
        wait_for(lambda: time.time() > start + 2 * THRESHOLD_S, 10, what="a long outage")
        site.connect(site.boot + 1)
        end = time.time()
        site.event("uplink", historical=True,
                   detail={"start": start, "end": end, "cause": "keepalive_loss",
                           "lost": "keepalive"})
        wait_for(lambda: self.query("SELECT count(*) FROM outages WHERE ended_at IS NOT NULL "
                                    "AND end_source = 'uplink_record'")[0][0] > n, 10,
                 what="the record applied")
        wait_for(lambda: any(x["site"] == site.site and x["state"] == "online" and
                             x["devices"] and x["last_seen"] > end for x in self.sites()),
                 10, what="its heartbeats again")

    def figures(self) -> dict:
        """Every stored figure an attack could change (not the sight, which grows)."""
        budgets = {}
        for p in ("P1", "P2"):
            b = self.api.get(f"/api/projects/{p}/budget", params={"year": YEAR}).json()
            budgets[p] = (b["down_minutes"], b["alerts_over_threshold"],
                          [(o["id"], o["charged_minutes"]) for o in b["outages"]])
        return {"outages": self.query("SELECT * FROM outages ORDER BY id"),
                "incidents": self.query("SELECT * FROM incidents ORDER BY id"),
                "projects": self.query("SELECT * FROM projects ORDER BY project"),
                "budgets": budgets,
                "sites": [(s["project"], s["site"], s["state"],
                           [(d["device"], d["state"]) for d in s["devices"]])
                          for s in self.sites()]}

    def settle(self, codes: dict[str, int]) -> None:
        """Wait until the collector counted the rejections an attack must cause."""
        wait_for(lambda: all(self.rejected(c) >= n for c, n in codes.items()), 10,
                 what=f"rejections {codes}")

    def stop(self) -> None:
        self.s1.stop()
        self.s2.stop()
        if self.proc.poll() is None:
            self.stop_collector()
        self.api.close()
