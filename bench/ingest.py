"""Benchmark: live heartbeat ingest through a real mosquitto (issue 5).

In one run, against one mosquitto on a free loopback port:

1. the ceiling: ``--drain`` heartbeats are queued by mosquitto for an absent subscriber, then
   a bare paho subscriber that only parses each payload as JSON takes them off; its rate is
   the raw receive rate with nothing else running on the machine;
2. the same queue taken off by one ``parkwatch collector run`` process (as deployed);
3. live: a publisher process sends heartbeats of ``--sites`` sites at 90% of that capacity
   for ``--seconds``, one site falling silent after 2 s. Sustained means nothing is lost
   and exactly that site is found down while the heartbeats go on.

Prints a table and a JSON line.

    .venv/bin/python bench/ingest.py [--sites 2000] [--seconds 15] [--drain 100000] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.benchlib import (  # noqa: E402
    add_json_arg,
    emit,
    fleet_toml,
    machine_line,
    print_figures,
)
from simulators.broker import Mosquitto, free_port  # noqa: E402

INTERVAL_S = 2.0  # what the heartbeats announce: a silent site is down after 6 s
VICTIM = "s00000"


def site_names(sites: int) -> list[str]:
    return [f"s{i:05d}" for i in range(sites)]  # what publish_batch's bodies name, too


def publisher(port: int, sites: int, seconds: float, counter, rate: float = 0.0) -> None:
    """Heartbeats round-robin over the sites, at ``rate`` per second (0: as fast as one
    process can send them)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{os.getpid()}",
                         protocol=mqtt.MQTTv311)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    names = site_names(sites)
    topics = [f"parkwatch/v1/bench/{n}/heartbeat" for n in names]
    body = ('{{"v":1,"project":"bench","site":"{site}","boot":1,"seq":{seq},"ts":{ts},'
            '"interval_s":' + str(INTERVAL_S) + ',"devices":{{"gate-1":{{"state":"ok"}}}}}}')
    start = time.time()
    n = seq = 0
    while True:
        now = time.time()
        if now - start > seconds:
            break
        seq += 1
        for i in range(sites):
            if i == 0 and now - start > 2.0:
                continue  # the victim falls silent
            client.publish(topics[i], body.format(site=names[i], seq=seq, ts=now))
            n += 1
            if rate and n % 100 == 0:
                ahead = start + n / rate - time.time()
                if ahead > 0:
                    time.sleep(ahead)
        # Back off when the client's buffer grows: measure the receiver, not paho's queue.
        while len(client._out_packet) > 20000:
            time.sleep(0.001)
    client.loop_stop()
    client.disconnect()
    counter.value = n


def publish_batch(port: int, sites: int, count: int) -> None:
    """``count`` heartbeats (QoS 0), sent and flushed; mosquitto queues them for the
    subscriber's persistent session while it is away."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"batch-{os.getpid()}",
                         protocol=mqtt.MQTTv311)
    client.connect("127.0.0.1", port)
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


def drain_bare(port: int, sites: int, count: int) -> int:
    """The ceiling: how fast a bare paho subscriber parsing JSON takes a queue of heartbeats
    off the broker, with nothing else running."""
    got = {"n": 0, "first": None, "last": None}

    def on_message(c, u, m):
        json.loads(m.payload)
        got["n"] += 1
        t = time.monotonic()
        got["first"] = got["first"] or t
        got["last"] = t

    def session():
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bare-drain",
                        protocol=mqtt.MQTTv311, clean_session=False)
        c.on_message = on_message
        c.connect("127.0.0.1", port)
        return c

    c = session()
    c.subscribe("parkwatch/v1/+/+/+", 0)
    c.loop(1.0)
    c.disconnect()
    publish_batch(port, sites, count)
    c = session()
    c.loop_start()
    idle = time.monotonic()
    seen = 0
    while time.monotonic() - idle < 2.0:
        time.sleep(0.05)
        if got["n"] != seen:
            seen, idle = got["n"], time.monotonic()
    c.loop_stop()
    c.disconnect()
    span = (got["last"] or 0) - (got["first"] or 0)
    return round(got["n"] / span) if span else 0


def drain_collector(port: int, sites: int, count: int, work: Path) -> int:
    """The same queue taken off by one collector process."""
    api_port = free_port()
    cfg = work / "drain.toml"
    cfg.write_text(f'broker = "mqtt://127.0.0.1:{port}"\ndatabase = "{work / "d.db"}"\n'
                   f'client_id = "bench-drain"\n[api]\nport = {api_port}\nanonymous_read = true\n'
                   + fleet_toml("bench", site_names(sites)))
    exe = Path(sys.executable).parent / "parkwatch"
    api = httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=10)

    def start():
        proc = subprocess.Popen([str(exe), "collector", "run", "--config", str(cfg)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                return proc, api.get("/healthz").json()
            except httpx.HTTPError:
                time.sleep(0.02)
        raise RuntimeError("the collector did not start")

    proc, _ = start()
    time.sleep(1.0)  # subscribed: the session now exists
    proc.terminate()
    proc.wait(10)
    publish_batch(port, sites, count)
    proc, _ = start()
    samples = []
    try:
        idle = time.monotonic()
        last = -1
        while time.monotonic() - idle < 2.0:
            n = api.get("/healthz").json()["received"]
            samples.append((time.monotonic(), n))
            if n != last:
                last, idle = n, time.monotonic()
            time.sleep(0.05)
    finally:
        api.close()
        proc.terminate()
        proc.wait(10)
    moving = [(t, n) for t, n in samples if 0 < n]
    first = moving[0]
    end = next((t, n) for t, n in moving if n == moving[-1][1])
    return round((end[1] - first[1]) / (end[0] - first[0])) if end[0] > first[0] else 0


def collector_run(port: int, sites: int, seconds: float, work: Path, rate: float) -> dict:
    api_port = free_port()
    cfg = work / "collector.toml"
    run = f"live-{round(rate)}"  # a database and MQTT session of its own per run
    cfg.write_text(f'broker = "mqtt://127.0.0.1:{port}"\ndatabase = "{work / run}.db"\n'
                   f'client_id = "{run}"\n[api]\nport = {api_port}\n'
                   "anonymous_read = true\n"  # the bench reads /api/outages unsigned
                   + fleet_toml("bench", site_names(sites)))
    exe = Path(sys.executable).parent / "parkwatch"
    proc = subprocess.Popen([str(exe), "collector", "run", "--config", str(cfg)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    api = httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=10)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if api.get("/healthz").json()["mqtt_connected"]:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the collector did not start")
            time.sleep(0.1)
        published = mp.Value("q", 0)
        pub = mp.Process(target=publisher, args=(port, sites, seconds, published, rate))
        pub.start()
        time.sleep(3.0)  # warm up
        r0, t0 = api.get("/healthz").json()["received"], time.monotonic()
        time.sleep(seconds - 5.0)
        r1, t1 = api.get("/healthz").json()["received"], time.monotonic()
        outages = api.get("/api/outages").json()  # still inside the flood
        pub.join()
        time.sleep(1.0)
        total = api.get("/healthz").json()["received"]
    finally:
        api.close()
        proc.terminate()
        proc.wait(10)
    down = [o["site"] for o in outages]
    victim = [o for o in outages if o["site"] == VICTIM]
    lag = (victim[0]["detected_at"] - victim[0]["last_seen_at"] - 3 * INTERVAL_S
           if victim else None)
    return {"published": published.value, "received": total,
            "rate_per_s": round((r1 - r0) / (t1 - t0)),
            "detection_correct": down == [VICTIM], "down": down[:5],
            "lost_pct": round(100 * (1 - total / published.value), 2) if published.value else 0,
            "detection_lag_s": None if lag is None else round(lag, 2)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sites", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=15.0, help="of each live run")
    ap.add_argument("--drain", type=int, default=100000, help="heartbeats queued, then drained")
    ap.add_argument("--rate", type=float, default=0.0,
                    help="live heartbeats per second (default: 90%% of the drained capacity)")
    add_json_arg(ap)
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="pw-ingest-"))
    rate = 0.0
    broker = Mosquitto(workdir=work / "mosquitto")
    with open(broker.conf, "a") as f:  # queue QoS 0 for absent persistent sessions
        f.write("queue_qos0_messages true\nmax_queued_bytes 0\n")
    broker.start()
    tried: list[dict] = []
    try:
        drained_bare = drain_bare(broker.port, args.sites, args.drain)
        drained_col = drain_collector(broker.port, args.sites, args.drain, work)
        # Live: heartbeats for ``--seconds``, one site silent after 2 s. Sustained means:
        # (almost) nothing lost, exactly that site found down. Offer 90%, 75%, 60% of the
        # drained capacity until it holds.
        for share in ([args.rate / drained_col] if args.rate else [0.9, 0.75, 0.6]):
            rate = share * drained_col
            col = collector_run(broker.port, args.sites, args.seconds, work, rate)
            tried.append({"offered_per_s": round(rate), "received_per_s": col["rate_per_s"],
                          "lost_pct": col["lost_pct"], "correct": col["detection_correct"]})
            if col["lost_pct"] < 1.0 and col["detection_correct"]:
                break
    finally:
        broker.stop()
    figures = {
        "benchmark": "ingest",
        "workload": f"{args.drain:,} queued heartbeats drained by bare paho+JSON (the ceiling) "
                    f"and by one `parkwatch collector run`, then {args.sites:,} sites' "
                    f"heartbeats sent live for {args.seconds:g} s at 90% (75%, 60%) of the "
                    "collector's drain rate with one site falling silent, through one "
                    "mosquitto on loopback",
        "sites": args.sites,
        "drain_bare_paho_json_per_s": drained_bare,
        "drain_collector_per_s": drained_col,
        "drain_share_of_ceiling_pct": round(100 * drained_col / drained_bare)
        if drained_bare else None,
        "live_offered_per_s": round(rate),
        "live_collector_heartbeats_per_s": col["rate_per_s"],
        "live_share_of_ceiling_pct": round(100 * col["rate_per_s"] / drained_bare)
        if drained_bare else None,
        "collector_detection_correct": col["detection_correct"],
        "collector_detection_lag_s": col["detection_lag_s"],
        "collector_sites_found_down": col["down"],
        "live_received_of_published": f"{col['received']}/{col['published']}",
        "live_lost_pct": col["lost_pct"],
        "live_tries": tried,
        "machine": machine_line(),
    }
    print_figures(figures)
    emit(figures, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
