"""The load and the receivers of the ingest benchmarks (bench/ingest.py, bench/overload.py):
site names, a paced heartbeat publisher, a queued batch, a bare paho receiver (the
ceiling) and a ``parkwatch collector run`` process read through its API."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.benchlib import Login  # noqa: E402
from simulators.broker import Mosquitto  # noqa: E402

INTERVAL_S = 2.0  # what the heartbeats announce by default: a silent site is down after 6 s
VICTIM = "s00000"
LISTENING = re.compile(rb"collector API on http://[^:]+:(\d+)")


def site_names(sites: int) -> list[str]:
    return [f"s{i:05d}" for i in range(sites)]


def _client(login: Login, name: str, clean: bool = True, unqueued: bool = False):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name, protocol=mqtt.MQTTv311,
                    clean_session=clean)
    if unqueued:
        c.max_queued_messages_set(0)
    login.connect(c)
    return c


def forget_session(login: Login, client_id: str) -> None:
    """Remove a persistent session, so the broker stops queueing for it."""
    c = _client(login, client_id, clean=True)
    c.loop(1.0)
    c.disconnect()


def publisher(load: Login, sites: int | list[str], seconds: float, counter, rate: float,
              interval: float, victim: bool = True) -> None:
    """Heartbeats round-robin over the sites (a count, or the names) at ``rate`` per
    second; the victim, when among them, falls silent after 2 s."""
    client = _client(load, f"pub-{rate:.0f}-{time.monotonic_ns()}", unqueued=True)
    client.loop_start()
    names = site_names(sites) if isinstance(sites, int) else list(sites)
    topics = [f"parkwatch/v1/bench/{n}/heartbeat" for n in names]
    body = ('{{"v":1,"project":"bench","site":"{site}","boot":1,"seq":{seq},"ts":{ts},'
            '"interval_s":' + str(interval) + ',"devices":{{"gate-1":{{"state":"ok"}}}}}}')
    start = time.time()
    n = seq = 0
    while time.time() - start < seconds:
        seq += 1
        for i in range(len(names)):
            now = time.time()
            if now - start > seconds:
                break
            if victim and names[i] == VICTIM and now - start > 2.0:
                continue
            client.publish(topics[i], body.format(site=names[i], seq=seq, ts=now))
            n += 1
            if n % 100 == 0:
                ahead = start + n / rate - time.time()
                if ahead > 0:
                    time.sleep(ahead)
                while len(client._out_packet) > 20000:  # measure the receiver, not paho
                    time.sleep(0.001)
    while client._out_packet:
        time.sleep(0.01)
    client.loop_stop()
    client.disconnect()
    counter.value = n


def publish_batch(load: Login, sites: int, count: int) -> None:
    """``count`` heartbeats (QoS 0), sent and flushed; mosquitto queues them for the
    subscriber's persistent session while it is away."""
    client = _client(load, "batch")
    client.loop_start()
    body = ('{{"v":1,"project":"bench","site":"s{i:05d}","boot":1,"seq":{seq},"ts":{ts},'
            '"interval_s":3600.0,"devices":{{"gate-1":{{"state":"ok"}}}}}}')
    for n in range(count):
        i = n % sites
        client.publish(f"parkwatch/v1/bench/s{i:05d}/heartbeat",
                       body.format(i=i, seq=n // sites + 1, ts=time.time()))
        while len(client._out_packet) > 20000:
            time.sleep(0.001)
    while client._out_packet:
        time.sleep(0.01)
    time.sleep(0.5)
    client.loop_stop()
    client.disconnect()


# --- receivers ------------------------------------------------------------------------------

def bare_receiver(reader: Login, client_id: str, clean: bool, counter, ready, stop) -> None:
    """A bare paho subscriber parsing each payload as JSON (in its own process)."""
    got = [0]

    def on_message(c, u, m):
        json.loads(m.payload)
        got[0] += 1
        if got[0] % 64 == 0:
            counter.value = got[0]

    c = _client(reader, client_id, clean=clean)
    c.on_message = on_message
    c.subscribe("parkwatch/v1/+/+/+", 0)
    c.loop_start()
    ready.set()
    while not stop.wait(0.05):
        counter.value = got[0]
    counter.value = got[0]
    c.loop_stop()
    c.disconnect()


class CollectorProc:
    """``parkwatch collector run`` with its API on port 0, read back from its log."""

    def __init__(self, broker: Mosquitto, sites: int, work: Path, name: str,
                 subscribed: bool = True):
        """Started, its API answering and (``subscribed``) its subscription granted. A
        collector coming back to a queue is not waited for: the broker sends the queue on
        the session before it answers the new SUBSCRIBE, so the queue is the drain."""
        self.name = name
        cfg = work / f"{name}.toml"
        cfg.write_text(f'broker = "{broker.url}"\ndatabase = "{work / name}.db"\n'
                       f'client_id = "{name}"\n[api]\nport = 0\nanonymous_read = true\n'
                       f"[mqtt]\n{broker.mqtt_toml()}"
                       # compact: 100,000 sites' names stay under the config's 1 MB cap
                       f"\n[projects.bench]\nsites = "
                       f"{json.dumps(site_names(sites), separators=(',', ':'))}\n")
        deadline = self._launch(cfg, work)
        while subscribed and not self.health()["mqtt_connected"]:
            if time.monotonic() > deadline:
                raise RuntimeError("the collector did not connect")
            time.sleep(0.05)

    def _launch(self, cfg: Path, work: Path) -> float:
        """Run it on ``cfg`` and wait for its API (read back from its log); the deadline."""
        self.log = work / f"{self.name}.log"
        exe = Path(sys.executable).parent / "parkwatch"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen([str(exe), "collector", "run", "--config", str(cfg)],
                                         stdout=subprocess.DEVNULL, stderr=out)
        deadline = time.monotonic() + 60
        while not (m := LISTENING.search(self.log.read_bytes())):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start: "
                                   f"{self.log.read_text()[-2000:]}")
            time.sleep(0.05)
        self.api = httpx.Client(base_url=f"http://127.0.0.1:{m.group(1).decode()}",
                                timeout=30)
        return deadline

    def health(self) -> dict:
        return self.api.get("/healthz").json()

    def taken(self) -> int:
        """Heartbeats it took in: handled, or shed for a later one of their site."""
        h = self.health()
        return h["received"] + h["shed_heartbeats"]

    def stop(self) -> None:
        self.api.close()
        self.proc.terminate()
        self.proc.wait(20)


