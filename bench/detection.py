"""Detection latency: from an uplink cut to the incident being declared, over many cuts.

Real processes throughout: one mosquitto on a loopback port of its own (held, see
simulators/ports.py), one ``parkwatch collector run`` (API on port 0, read from its log) and
one ``parkwatch agent run`` whose MQTT connection goes through the TCP proxy of
``simulators/netproxy.py`` (in this process; it keeps its port while a drop has it closed).
Each cut switches the proxy to ``drop`` (both sides reset: the broker publishes the agent's
Will at once) or ``blackhole`` (the connection stays open and silent: only the collector's
silence rule, or keepalive, can notice), waits for the collector to declare the site's
incident, then restores the link and waits for the site to come back. Cuts alternate between
the two modes and fall at a random (seeded) phase of the heartbeat.

The intervals are shortened so that many cuts fit in a few minutes: threshold 3 s,
heartbeat 1 s, silence factor 3 (a silent site is down 3 s after its last heartbeat). In
production they are 60 s and 10 s; the latencies scale with them (see docs/performance.md).

An outage starts at the site's last message before the cut, so the incident is due
``threshold`` after that heartbeat, i.e. between ``threshold - heartbeat`` and
``threshold`` after the cut, plus the collector's tick (0.25 s).

    .venv/bin/python bench/detection.py [--cuts 30] [--threshold 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.benchlib import add_json_arg, emit, fleet_toml, machine_line  # noqa: E402
from simulators.broker import Mosquitto  # noqa: E402
from simulators.netproxy import NetProxy  # noqa: E402
from simulators.ports import port_in_log  # noqa: E402

PROJECT, SITE = "bench", "lot-1"
MODES = ("drop", "blackhole")
TICK_S = 0.25  # the collector's tick (collector/ingest.py)
SLACK_S = (0.1, 0.25)  # allowed outside the window: message transit early, scheduling late


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def spread(values: list[float]) -> dict | None:
    if not values:
        return None
    return {"n": len(values), "min": round(min(values), 2),
            "median": round(statistics.median(values), 2),
            "p90": round(percentile(values, 90), 2), "max": round(max(values), 2)}


class Rig:
    """Broker, proxy, collector and agent, with their configs in ``work``."""

    def __init__(self, work: Path, threshold: float, heartbeat: float, keepalive: int):
        self.work = work
        self.exe = str(Path(sys.executable).parent / "parkwatch")
        self.broker = Mosquitto(workdir=work / "mosquitto").start()
        self.proxy = NetProxy(self.broker.port).start()
        (work / "collector.toml").write_text(
            f'broker = "{self.broker.url}"\ndatabase = "{work / "collector.db"}"\n'
            f"outage_threshold_s = {threshold}\nsite_silence_factor = 3\n"
            f'client_id = "bench-detection"\n'
            "[api]\nport = 0\nanonymous_read = true\n"  # the kernel picks; read from its log
            f"[mqtt]\n{self.broker.mqtt_toml()}{fleet_toml(PROJECT, [SITE])}")
        (work / "agent.toml").write_text(
            f'project = "{PROJECT}"\nsite = "{SITE}"\n'
            f'broker = "mqtt://127.0.0.1:{self.proxy.port}"\n'
            f'state_dir = "{work / "agent-state"}"\n'
            f"heartbeat_interval_s = {heartbeat}\nkeepalive_s = {keepalive}\n"
            "[mqtt]\nreconnect_min_s = 0.2\nreconnect_max_s = 1.0\nconnect_timeout_s = 2\n"
            + self.broker.mqtt_toml(PROJECT, SITE))
        self.api = httpx.Client(timeout=10)  # at the collector's port once it has one
        self.procs: list[subprocess.Popen] = []

    def spawn(self, role: str) -> None:
        log = self.work / f"{role}.log"
        with open(log, "w") as err:
            self.procs.append(subprocess.Popen(
                [self.exe, role, "run", "--config", str(self.work / f"{role}.toml")],
                stdout=subprocess.DEVNULL, stderr=err))
        if role == "collector":
            self.api.base_url = f"http://127.0.0.1:{port_in_log(log, self.procs[-1])}"

    def wait(self, condition, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = condition()
            except httpx.HTTPError:
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"detection: no {what} after {timeout:g} s "
                                   f"(logs in {self.work})")
            time.sleep(0.05)

    def outages(self) -> list[dict]:
        return [o for o in self.api.get("/api/outages").json()
                if o["kind"] == "site_network" and o["site"] == SITE]

    def site_online(self, since: float) -> bool:
        """Online, and a message heard after ``since`` (the link really carries traffic)."""
        for s in self.api.get("/api/sites").json():
            if s["site"] == SITE:
                return s["state"] == "online" and (s["last_seen"] or 0) > since
        return False

    def stop(self) -> None:
        self.api.close()
        for p in reversed(self.procs):
            p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        self.proxy.stop()
        self.broker.close()


def one_cut(rig: Rig, mode: str, threshold: float, timeout: float) -> dict:
    known = max((o["id"] for o in rig.outages()), default=0)
    cut_at = time.time()
    rig.proxy.set_mode(mode)
    try:
        outage = rig.wait(lambda: next((o for o in rig.outages() if o["id"] > known
                                        and o["declared_at"] is not None), None),
                          timeout, f"incident after a {mode} cut")
    finally:
        rig.proxy.set_mode("pass")
    restored_at = time.time()
    rig.wait(lambda: any(o["id"] == outage["id"] and o["ended_at"] is not None
                         for o in rig.outages()) and rig.site_online(restored_at),
             timeout, "recovery after the link came back")
    return {"mode": mode, "detected_by": outage["detected_by"],
            "detected_s": round(outage["detected_at"] - cut_at, 3),
            "declared_s": round(outage["declared_at"] - cut_at, 3),
            "declared_after_last_heartbeat_s":
                round(outage["declared_at"] - outage["last_seen_at"], 3),
            "over_threshold_s": round(outage["declared_at"] - cut_at - threshold, 3)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cuts", type=int, default=30, help="cuts in all, modes alternating")
    ap.add_argument("--threshold", type=float, default=3.0, help="outage_threshold_s")
    ap.add_argument("--heartbeat", type=float, default=1.0, help="heartbeat_interval_s")
    ap.add_argument("--keepalive", type=int, default=5, help="the agent's MQTT keepalive_s")
    ap.add_argument("--budget", type=float, default=240.0,
                    help="stop cutting after this many seconds (default 240)")
    ap.add_argument("--seed", type=int, default=8)
    add_json_arg(ap)
    args = ap.parse_args(argv)
    if not Mosquitto.available():
        print("detection: needs mosquitto (apt-get install mosquitto)", file=sys.stderr)
        return 1
    rnd = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="pw-bench-detect-"))
    per_cut_timeout = args.threshold + 6 * args.heartbeat + 2.0 * args.keepalive + 10
    rig = Rig(work, args.threshold, args.heartbeat, args.keepalive)
    cuts: list[dict] = []
    started = time.monotonic()
    try:
        rig.spawn("collector")
        rig.wait(lambda: rig.api.get("/healthz").json()["mqtt_connected"], 30,
                 "collector connected")
        rig.spawn("agent")
        rig.wait(lambda: rig.site_online(0), 30, "agent heard through the proxy")
        for i in range(args.cuts):
            if time.monotonic() - started > args.budget:
                break
            time.sleep(args.heartbeat * (0.5 + rnd.random()))  # a random heartbeat phase
            cuts.append(one_cut(rig, MODES[i % len(MODES)], args.threshold, per_cut_timeout))
    finally:
        rig.stop()
    wall = time.monotonic() - started
    declared = [c["declared_s"] for c in cuts]
    result = {
        "benchmark": "detection",
        "workload": f"{len(cuts)} uplink cuts (netproxy drop/blackhole, alternating) between a "
                    "real `parkwatch agent run` and mosquitto, incident declared by a real "
                    f"`parkwatch collector run`; threshold {args.threshold:g} s, heartbeat "
                    f"{args.heartbeat:g} s, silence factor 3, keepalive {args.keepalive} s",
        "threshold_s": args.threshold, "heartbeat_s": args.heartbeat,
        "keepalive_s": args.keepalive, "cuts": len(cuts), "cuts_asked": args.cuts,
        "declared_after_cut_s": spread(declared),
        "detected_after_cut_s": spread([c["detected_s"] for c in cuts]),
        "declared_after_last_heartbeat_s":
            spread([c["declared_after_last_heartbeat_s"] for c in cuts]),
        "by_mode": {m: {"declared_after_cut_s": spread([c["declared_s"] for c in cuts
                                                         if c["mode"] == m]),
                        "detected_after_cut_s": spread([c["detected_s"] for c in cuts
                                                         if c["mode"] == m]),
                        "detected_by": sorted({c["detected_by"] for c in cuts
                                               if c["mode"] == m})}
                    for m in MODES},
        "expected_window_s": [args.threshold - args.heartbeat, args.threshold + TICK_S],
        "slack_s": list(SLACK_S),
        "within_expected": all(args.threshold - args.heartbeat - SLACK_S[0] <= d
                               <= args.threshold + TICK_S + SLACK_S[1] for d in declared),
        "wall_s": round(wall, 1), "cut_log": cuts, "machine": machine_line(),
    }
    print(f"detection latency over {len(cuts)} cuts, threshold {args.threshold:g} s, "
          f"heartbeat {args.heartbeat:g} s (seconds)")
    print(f"{'':34}{'n':>4}{'min':>8}{'median':>8}{'p90':>8}{'max':>8}")
    rows = [("cut -> incident declared", result["declared_after_cut_s"])]
    rows += [(f"  {m} cuts", result["by_mode"][m]["declared_after_cut_s"]) for m in MODES]
    rows += [("cut -> site known down", result["detected_after_cut_s"])]
    rows += [(f"  {m} cuts ({', '.join(result['by_mode'][m]['detected_by'])})",
              result["by_mode"][m]["detected_after_cut_s"]) for m in MODES]
    rows += [("last heartbeat -> declared", result["declared_after_last_heartbeat_s"])]
    for name, s in rows:
        if s:
            print(f"{name:34}{s['n']:>4}{s['min']:>8}{s['median']:>8}{s['p90']:>8}{s['max']:>8}")
    lo, hi = result["expected_window_s"]
    print(f"expected: declared {lo:g}-{hi:g} s after the cut (-{SLACK_S[0]:g}/+{SLACK_S[1]:g} s "
          f"slack); {'all within' if result['within_expected'] else 'SOME OUTSIDE'}")
    emit(result, args.json)
    return 0 if cuts and len(cuts) == args.cuts else 1


if __name__ == "__main__":
    sys.exit(main())
