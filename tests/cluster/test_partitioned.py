"""Two partitioned collector processes sharing one PostgreSQL database and one broker
(collector/partitioned.py): they split the partitions, one is killed with -9, the other
takes its partitions over within the lease's bound, and what happened meanwhile is stored
once: an event sent while nobody held the site's partition, no outage for sites that kept
beating, and an outage that was open when its collector died resumed, not doubled.

mosquitto maps no topics, so the collectors run ``mapped = false`` (each partition's
session hears the whole fleet and keeps its own sites); the NATS cluster's mapping is
tested in tests/cluster/test_partition_cluster.py.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time

import httpx
import paho.mqtt.client as mqtt
import pytest

from collector.fleet.partitions import partition_of
from parkwatch.core import wire
from simulators.ports import port_in_log
from tests.helpers import fleet_toml, rows, wait_for

COUNT = 4
TTL_S, RENEW_S = 2.0, 0.5
BEAT_S = 0.3
SITES = [f"lot-{i}" for i in range(8)]


class Sites:
    """Eight sites' heartbeats, each on its own login; ``cut`` stops one."""

    def __init__(self, broker):
        self.clients = {}
        for s in SITES:
            c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"site-{s}",
                            protocol=mqtt.MQTTv311)
            broker.login(c, "p1", s)
            c.connect("127.0.0.1", broker.port)
            c.loop_start()
            self.clients[s] = c
        self.cut: set[str] = set()
        self.seq = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(BEAT_S):
            self.seq += 1
            for s, c in self.clients.items():
                if s not in self.cut:
                    hb = wire.Heartbeat("p1", s, 1, self.seq, time.time(), BEAT_S, {})
                    c.publish(wire.topic("p1", s, wire.HEARTBEAT), wire.encode(hb))

    def event(self, site: str, seq: int) -> None:
        ev = wire.Event("p1", site, 1, seq, time.time(), "intercom", device="intercom-1")
        self.clients[site].publish(wire.topic("p1", site, wire.EVENT), wire.encode(ev),
                                   qos=1).wait_for_publish(5)

    def close(self):
        self._stop.set()
        for c in self.clients.values():
            c.loop_stop()
            c.disconnect()


@pytest.fixture
def pair(tmp_path, mosquitto, parkwatch_exe, pg_database):
    procs, apis = {}, {}

    def start(name: str):
        cfg = tmp_path / f"{name}.toml"
        log = tmp_path / f"{name}.log"
        cfg.write_text(f'broker = "{mosquitto.url}"\ndatabase = "{pg_database}"\n'
                       "outage_threshold_s = 2.0\nsite_silence_factor = 6\n"
                       "[api]\nport = 0\nanonymous_read = true\n"
                       f'[partitions]\ncount = {COUNT}\nmember = "{name}"\n'
                       f"ttl_s = {TTL_S}\nrenew_s = {RENEW_S}\nmapped = false\n"
                       f"[mqtt]\n{mosquitto.mqtt_toml()}"
                       f"{fleet_toml(*(f'p1/{s}' for s in SITES))}")
        with open(log, "ab") as err:
            procs[name] = subprocess.Popen([parkwatch_exe, "collector", "run", "--config",
                                            str(cfg)], stdout=subprocess.DEVNULL, stderr=err)
        apis[name] = httpx.Client(timeout=5, base_url="http://127.0.0.1:"
                                  f"{port_in_log(log, procs[name])}")

    def health(name: str) -> dict:
        try:
            return apis[name].get("/healthz").json()
        except httpx.HTTPError:
            return {}

    sites = Sites(mosquitto)
    yield start, health, procs, sites, pg_database, apis
    sites.close()
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            p.wait(15)


def owned(health, name) -> set[int]:
    h = health(name)
    return set(h.get("partitions") or ()) if h.get("mqtt_connected") else set()


def split_between_two(start, health) -> None:
    """c1 takes every partition, then c2 joins and they hold half each."""
    start("c1")
    wait_for(lambda: owned(health, "c1") == set(range(COUNT)), timeout=30,
             what="c1 to hold every partition")
    start("c2")
    wait_for(lambda: len(owned(health, "c1")) == len(owned(health, "c2")) == COUNT // 2,
             timeout=30, what="the partitions to be split two and two")


def test_a_killed_collectors_partitions_are_taken_over_and_nothing_is_lost_or_doubled(pair):
    start, health, procs, sites, url, _ = pair
    split_between_two(start, health)
    theirs = owned(health, "c1")
    assert not theirs & owned(health, "c2")
    of_c1 = [s for s in SITES if partition_of("p1", s, COUNT) in theirs]
    assert of_c1, "no site in c1's partitions: pick other site names"
    down = of_c1[0]
    sites.cut.add(down)  # c1 sees it go silent and stores the outage, then dies
    wait_for(lambda: rows(url, "SELECT id FROM outages WHERE site = ? AND ended_at IS NULL",
                          [down]), timeout=20, what="c1 to store the cut site's outage")

    procs["c1"].send_signal(signal.SIGKILL)
    procs["c1"].wait(10)
    killed = time.monotonic()
    speaker = of_c1[-1]
    sites.event(speaker, 10_000)  # nobody holds its partition now: the broker keeps it
    wait_for(lambda: owned(health, "c2") == set(range(COUNT)), timeout=TTL_S + RENEW_S + 20,
             what="c2 to take c1's partitions")
    takeover_s = time.monotonic() - killed
    assert takeover_s <= TTL_S + RENEW_S + 8, takeover_s
    wait_for(lambda: rows(url, "SELECT id FROM site_events WHERE site = ?", [speaker]),
             timeout=15, what="the event sent during the takeover to be stored")
    sites.event(speaker, 10_000)  # the same event again (an agent's resend): still once
    sites.cut.discard(down)
    wait_for(lambda: not rows(url, "SELECT id FROM outages WHERE site = ? AND ended_at IS "
                                   "NULL", [down]), timeout=20, what="the site back")
    assert len(rows(url, "SELECT id FROM site_events WHERE site = ?", [speaker])) == 1
    assert len(rows(url, "SELECT * FROM seen_events WHERE site = ? AND seq = 10000",
                    [speaker])) == 1
    network = rows(url, "SELECT site FROM outages WHERE kind = 'site_network'")
    assert [r["site"] for r in network] == [down]  # one outage, resumed by c2, not two
    for part in theirs:  # c1's run, closed by c2's; sight never overlapping: a gap between
        runs = rows(url, "SELECT id, epoch, stopped_at FROM collector_runs WHERE partition = ? "
                         "ORDER BY id", [part])
        assert [r["epoch"] for r in runs] == sorted({r["epoch"] for r in runs})
        assert len(runs) == 2 and runs[0]["stopped_at"] is not None
        seen = rows(url, "SELECT s.from_at, s.to_at FROM sight s JOIN collector_runs r ON "
                         "r.id = s.run_id WHERE r.partition = ? ORDER BY s.from_at", [part])
        assert all(a["to_at"] <= b["from_at"] for a, b in zip(seen, seen[1:], strict=False))
        assert seen[-1]["from_at"] - seen[-2]["to_at"] > 0  # nobody watched: unknown time
    print(f"takeover after kill -9: {takeover_s:.1f} s (ttl {TTL_S} s, renew {RENEW_S} s)")


def test_either_collector_shows_every_site_of_the_fleet(pair):
    """/api/sites (the console's board) on each collector: its own partitions' sites from
    memory, the other's as their holder stored them; after a kill, the survivor's own."""
    start, health, procs, sites, url, apis = pair
    split_between_two(start, health)

    def view(name: str) -> dict[str, str]:
        try:
            return {s["site"]: s["state"] for s in apis[name].get("/api/sites").json()}
        except (httpx.HTTPError, ValueError):
            return {}

    everyone = {s: "online" for s in SITES}
    wait_for(lambda: view("c1") == view("c2") == everyone, timeout=30,
             what="both collectors to show all eight sites online")
    cut = next(s for s in SITES if partition_of("p1", s, COUNT) in owned(health, "c1"))
    sites.cut.add(cut)
    wait_for(lambda: view("c2").get(cut) == "offline", timeout=30,
             what="c2 to show c1's silent site offline")
    procs["c1"].send_signal(signal.SIGKILL)
    procs["c1"].wait(10)
    wait_for(lambda: owned(health, "c2") == set(range(COUNT)) and
             view("c2") == {**everyone, cut: "offline"}, timeout=TTL_S + RENEW_S + 30,
             what="c2 to hold and show every site itself")
