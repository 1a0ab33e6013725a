"""Faults at scale: 2,000 sites beat through a three-node NATS cluster with the partition
mapping into two partitioned collectors on one PostgreSQL database, and in a row

1. the NATS node the first collector is on is killed (-9): its partition sessions move to
   the next node of its ``broker`` list;
2. PostgreSQL is killed and started again: the writes meanwhile are held, not
   acknowledged, and stored once it is back;
3. the first collector is killed (-9): the second takes its partitions over (timed).

Before each fault a few sites are cut (stop beating), and QoS 1 events are sent during
it. Then: every event the broker acknowledged is stored exactly once; every cut site has
one outage, starting within 1 s of when the collector could know: the site's last
heartbeat, or the moment its holder could see again if it was blind then (``knowable``); no
other site has any; nothing became a platform incident. A cut is made
0.5 s before its fault, so the collector finds it (3 missed 1 s beats) while the fault is
on: the meeting of the two is what is tested.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time

import httpx
import pytest

from collector.fleet.partitions import partition_of
from simulators.nats import NatsCluster
from simulators.ports import port_in_log
from simulators.postgres import PostgresServer, fresh_database
from tests.cluster.scale_fleet import BEAT_S, PROJECT, Fleet, site_names
from tests.helpers import rows, wait_for

SITES = site_names(2000)
COUNT = 6
TTL_S, RENEW_S = 8.0, 2.0  # takeover within ttl + renew = 10 s (the issue asks <= 15 s)
ACK_WAIT_S = 2  # what a takeover waits for the dead holder's unacknowledged events
START_ERROR_S = 1.0


@pytest.fixture
def rig(tmp_path, parkwatch_exe):
    if not NatsCluster.available():
        pytest.fail("nats-server is not installed (apt-get install nats-server)")
    cluster = NatsCluster(workdir=tmp_path / "nats", partitions=COUNT, ack_wait_s=ACK_WAIT_S)
    cluster.start()
    pg = PostgresServer().start()  # its own folder, which its server user can enter
    url = fresh_database(pg)
    procs: dict[str, subprocess.Popen] = {}
    apis: dict[str, httpx.Client] = {}

    def start(name: str, nodes: list[int]):
        urls = json.dumps([cluster.nodes[i].mqtt_url for i in nodes])
        cfg, log = tmp_path / f"{name}.toml", tmp_path / f"{name}.log"
        cfg.write_text(f"broker = {urls}\ndatabase = \"{url}\"\nclient_id = \"scale\"\n"
                       "outage_threshold_s = 2.0\nsite_silence_factor = 3\n"
                       "[api]\nport = 0\nanonymous_read = true\n"
                       f'[partitions]\ncount = {COUNT}\nmember = "{name}"\n'
                       f"ttl_s = {TTL_S}\nrenew_s = {RENEW_S}\n"
                       f"[mqtt]\n{cluster.mqtt_toml()}\n"
                       f"[projects.{PROJECT}]\nsites = {json.dumps(SITES)}\n")
        with open(log, "ab") as err:
            procs[name] = subprocess.Popen([parkwatch_exe, "collector", "run", "--config",
                                            str(cfg)], stdout=subprocess.DEVNULL, stderr=err)
        apis[name] = httpx.Client(timeout=5, base_url="http://127.0.0.1:"
                                  f"{port_in_log(log, procs[name], timeout=60)}")

    def health(name: str) -> dict:
        try:
            return apis[name].get("/healthz").json()
        except (httpx.HTTPError, ValueError):
            return {}

    def held(name: str) -> set[int]:
        h = health(name)
        return set(h.get("partitions") or ()) if h.get("mqtt_connected") else set()
    held.health = health

    fleet = None
    try:
        start("c1", [0, 1, 2])
        wait_for(lambda: held("c1") == set(range(COUNT)), 60, what="c1 to hold everything")
        fleet = Fleet(cluster, SITES, nodes=[2, 1])
        start("c2", [1, 2, 0])
        wait_for(lambda: len(held("c1")) == len(held("c2")) == COUNT // 2, 60,
                 what="the partitions split three and three")
        yield cluster, pg, url, fleet, procs, held
    finally:
        if fleet is not None:
            fleet.close()
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs.values():
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        pg.close()
        cluster.close()


def knowable(url: str, outage: dict, last_sent: float) -> float:
    """When the collector could first know the cut: the site's last heartbeat, or, when
    its holder was not watching then, the moment it could see again: the start of the
    sight period it found the silence in (before it: unknown time). A holder is not
    watching while it reconnects (its node died), nor after its storage failed: it then
    starts again from the database, as a restarted process would (collector/ingest.py)."""
    part = partition_of(PROJECT, outage["site"], COUNT)
    [watching] = rows(url, "SELECT max(s.from_at) AS t FROM sight s JOIN collector_runs r "
                           "ON r.id = s.run_id WHERE r.partition = ? AND s.from_at <= ?",
                      [part, outage["detected_at"]])
    return max(last_sent, watching["t"])


def sites_in(parts: set[int], n: int, taken: set[str]) -> list[str]:
    out = [s for s in SITES if partition_of(PROJECT, s, COUNT) in parts and s not in taken]
    return out[:n]


def test_2000_sites_through_a_node_kill_a_database_restart_and_a_collector_kill(rig):
    cluster, pg, url, fleet, procs, held = rig
    wait_for(lambda: len(fleet.last_sent) == len(SITES), 30, what="every site beating")
    wait_for(lambda: rows(url, "SELECT count(*) AS n FROM site_clocks WHERE interval_s = ?",
                          [BEAT_S])[0]["n"] == len(SITES), 30,
             what="every site heard, and its interval stored, by its holder")
    mine, theirs = held("c1"), held("c2")
    cuts: dict[str, float] = {}  # site -> when its last heartbeat was sent

    def cut(sites: list[str]) -> None:
        fleet.stop_beating(sites)
        time.sleep(0.1)  # the beat thread's round in flight
        cuts.update({s: fleet.last_sent[s] for s in sites})

    def outages_of(sites) -> list[dict]:
        marks = ", ".join("?" * len(sites))
        return rows(url, f"SELECT site, started_at, ended_at, start_source FROM outages "
                         f"WHERE kind = 'site_network' AND site IN ({marks})", list(sites))

    # 1. the node c1 is on dies
    first = sites_in(mine, 3, set()) + sites_in(theirs, 2, set())
    cut(first)
    time.sleep(0.5)
    cluster.kill(0)
    down_at = time.monotonic()
    for s in sites_in(mine, 5, set(cuts)):
        fleet.event(s)
    wait_for(lambda: held("c1") == mine, 60, what="c1 back on another node")
    node_s = time.monotonic() - down_at
    wait_for(lambda: len(outages_of(first)) == len(first), 30,
             what="the outages of the sites cut before the node died")

    # 2. PostgreSQL restarts
    second = sites_in(mine, 2, set(cuts)) + sites_in(theirs, 2, set(cuts))
    cut(second)
    time.sleep(0.5)
    pg.kill()
    db_gone = time.monotonic()
    for s in sites_in(theirs, 5, set(cuts)):
        fleet.event(s)
    wait_for(lambda: held.health("c2").get("storage", {}).get("ok") is False, 20,
             what="c2 to find its storage failing")
    pg.start()
    db_s = time.monotonic() - db_gone
    wait_for(lambda: len(outages_of(second)) == len(second), 40,
             what="the outages found while the database was away, stored")

    # 3. c1 is killed: c2 takes its partitions over
    third = sites_in(mine, 3, set(cuts))
    cut(third)
    wait_for(lambda: len(outages_of(third)) == len(third), 30,
             what="c1 to store the last cuts' outages")
    procs["c1"].send_signal(signal.SIGKILL)
    procs["c1"].wait(10)
    killed = time.monotonic()
    for s in sites_in(mine, 5, set(cuts)):
        fleet.event(s)
    wait_for(lambda: held("c2") == set(range(COUNT)), TTL_S + RENEW_S + 30,
             what="c2 to take c1's partitions over")
    takeover_s = time.monotonic() - killed
    fleet.event(*fleet.acked[-1])  # an agent's resend of an event already stored

    fleet.resume(list(cuts))
    wait_for(lambda: all(o["ended_at"] is not None for o in outages_of(list(cuts))), 30,
             what="every cut site back")
    acked = set(fleet.acked)

    def stored() -> list[dict]:
        return rows(url, "SELECT site, seq, count(*) AS n FROM seen_events WHERE project = ? "
                         "GROUP BY site, seq", [PROJECT])
    wait_for(lambda: {(r["site"], r["seq"]) for r in stored()} >= acked, 30,
             what="every acknowledged event stored")
    assert all(r["n"] == 1 for r in stored())
    events = rows(url, "SELECT site, count(*) AS n FROM site_events WHERE kind = 'intercom' "
                       "GROUP BY site")
    assert sorted((r["site"], r["n"]) for r in events) == \
        sorted((s, sum(1 for a, _ in acked if a == s)) for s in {a for a, _ in acked})

    everything = rows(url, "SELECT site, kind, started_at, detected_at, start_source "
                           "FROM outages")
    errors = {o["site"]: o["started_at"] - knowable(url, o, cuts[o["site"]])
              for o in everything}
    assert all(-0.05 <= e <= START_ERROR_S for e in errors.values()), errors
    for o in everything:  # "collector_start" (unknown before) only where it could not know
        if o["start_source"] == "collector_start":
            assert knowable(url, o, cuts[o["site"]]) > cuts[o["site"]], o
    assert takeover_s <= TTL_S + RENEW_S + 5, takeover_s
    print(f"2,000 sites, {COUNT} partitions: node kill -> c1 back in {node_s:.1f} s; "
          f"database away {db_s:.1f} s; takeover after kill -9 {takeover_s:.1f} s "
          f"(ttl {TTL_S:g} s, renew {RENEW_S:g} s); outage start error at most "
          f"{max(errors.values()) * 1000:.0f} ms over {len(cuts)} cuts; "
          f"{len(acked)} events stored once each")
