"""Real faults for the fail-closed tests: a small tmpfs mounted for one test, a real
``parkwatch collector run`` process whose API port is read from its log, and a site that
publishes QoS 1 events to a real mosquitto."""

from __future__ import annotations

import errno
import re
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest

from parkwatch.core import wire
from tests.helpers import wait_for

PROJECT, SITE = "p1", "lot-fc"


class Tmpfs:
    """A tmpfs of ``size`` mounted on ``path`` (root only); ``fill()`` takes all its space."""

    def __init__(self, path: Path, size: str):
        self.path = path
        path.mkdir(parents=True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                           capture_output=True, text=True)
        if r.returncode:
            pytest.fail("these tests need a real small filesystem: `mount -t tmpfs` was not "
                        f"permitted ({r.stderr.strip() or r.returncode}); run them as root "
                        "(CI does)")
        self.filler = path / "filler"

    def fill(self) -> int:
        """Write zeros until the filesystem is full; returns the bytes written."""
        written = 0
        with open(self.filler, "ab", buffering=0) as f:
            chunk = b"\0" * 65536
            while True:
                try:
                    written += f.write(chunk)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    if len(chunk) == 1:
                        return written
                    chunk = chunk[:len(chunk) // 16]

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def remount(self, mode: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{mode}", str(self.path)], check=True,
                       capture_output=True)

    def unmount(self) -> None:
        if subprocess.run(["umount", str(self.path)], capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(self.path)], check=True)


class CollectorProc:
    """``parkwatch collector run`` on a config written here; ``start()`` waits for its API."""

    def __init__(self, exe: str, workdir: Path, broker, database: Path, grace_s: float):
        self.exe, self.workdir = exe, workdir
        self.config = workdir / "collector.toml"
        self.config.write_text(
            f'broker = "{broker.url}"\ndatabase = "{database}"\n'
            f"storage_grace_s = {grace_s}\nclient_id = \"fc-collector\"\n"
            f'[projects.{PROJECT}]\nsites = ["{SITE}"]\n'
            "[api]\nport = 0\nanonymous_read = true\n"
            f"[mqtt]\n{broker.mqtt_toml()}")
        self.runs = 0
        self.proc: subprocess.Popen | None = None
        self.log: Path | None = None
        self.api: httpx.Client | None = None

    def start(self, connected: bool = True) -> subprocess.Popen:
        self.runs += 1
        self.log = self.workdir / f"collector-{self.runs}.log"
        with open(self.log, "wb") as err:
            self.proc = subprocess.Popen([self.exe, "collector", "run", "--config",
                                          str(self.config)], stdout=subprocess.DEVNULL,
                                         stderr=err)
        port = int(wait_for(lambda: self._port(), 30, 0.05, what="the collector's API")[1])
        self.api = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5)
        if connected:
            wait_for(lambda: self.health()["mqtt_connected"], 30, 0.1,
                     what="the collector to connect")
        return self.proc

    def _port(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"the collector exited ({self.proc.returncode}):\n"
                                 + self.log_text())
        return re.search(r"collector API on http://[\d.]+:(\d+)", self.log_text())

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log else ""

    def health(self) -> dict:
        return self.api.get("/healthz").json()

    def exited(self, timeout: float) -> int:
        wait_for(lambda: self.proc.poll() is not None, timeout, 0.1,
                 what="the collector to exit")
        return self.proc.returncode

    def stop(self) -> None:
        if self.api is not None:
            self.api.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class Site:
    """A site's agent reduced to its QoS 1 events, numbered ``n`` = seq = 1, 2, ..."""

    def __init__(self, broker):
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fc-site",
                                  protocol=mqtt.MQTTv311)
        broker.login(self.client, PROJECT, SITE)
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        self.seq = 0

    def events(self, n: int) -> None:
        infos = []
        for _ in range(n):
            self.seq += 1
            ev = wire.Event(PROJECT, SITE, 1, self.seq, time.time(), "intercom", "door-1",
                            detail={"n": self.seq})
            infos.append(self.client.publish(wire.topic(PROJECT, SITE, wire.EVENT),
                                             wire.encode(ev), qos=1))
        for info in infos:  # the broker has them (it acknowledged them to the site)
            info.wait_for_publish(10)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def stored(database: Path) -> tuple[list[int], list[int]]:
    """The seqs of the site's events marked delivered, and of its stored site events."""
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)
    try:
        seen = [r[0] for r in db.execute(
            "SELECT seq FROM seen_events WHERE project = ? AND site = ? ORDER BY seq",
            (PROJECT, SITE))]
        events = sorted(int(r[0]) for r in db.execute(
            "SELECT json_extract(detail, '$.n') FROM site_events WHERE project = ? AND "
            "site = ? AND kind = 'intercom'", (PROJECT, SITE)))
        return seen, events
    finally:
        db.close()


POISON = (-1e13, "NaN", float("inf"))  # times no clock gives; the first came from a heartbeat


def seed_poison(database: Path, start: float) -> list[int]:
    """Four real incidents (device outages played through the core's tracker and store);
    the first three then get a poison time each, as a forged message or a damaged row
    would leave them. Returns the incident ids, the good one last."""
    from tests.workflow.test_service import Feed

    feed = Feed(database)
    feed.store.ensure_project("P1", "Asia/Shanghai", 60.0, 60.0)
    run = feed.store.begin_run(start - 100)  # the collector saw all of it
    feed.store.link_up(run, start - 100)
    for n in range(4):
        feed.outage("P1", f"S{n}", "gate-in", start + n * 1000, 300)
    feed.run_until(start + 5000)
    feed.store.end_run(run, start + 5000)
    ids = [r[0] for r in feed.store.conn.execute("SELECT id FROM incidents ORDER BY id")]
    with feed.store.conn:
        for incident, bad in zip(ids[:3], POISON, strict=True):
            feed.store.conn.execute("UPDATE incidents SET opened_at = ?, closed_at = ? "
                                    "WHERE id = ?", (bad, bad, incident))
            feed.store.conn.execute("UPDATE outages SET started_at = ?, ended_at = ? WHERE "
                                    "incident_id = ? OR id = (SELECT outage_id FROM "
                                    "incidents WHERE id = ?)", (bad, bad, incident, incident))
    feed.store.db.close()
    return ids
