"""Benchmark: live heartbeat ingest through a real mosquitto (issues 5 and 13).

In one run, against one mosquitto on loopback:

1. drains: ``--drain`` heartbeats queued by mosquitto for an absent subscriber, taken off by
   a bare paho subscriber that only parses each payload as JSON, then by one
   ``parkwatch collector run`` process (as deployed);
2. a rate ladder, for the bare subscriber (the ceiling) and for the collector: a publisher
   process offers ``--sites`` sites' heartbeats live at a rate, for ``--seconds``, one site
   falling silent after 2 s; the rate goes up by ``--step`` until a rung is not held. Held
   means nothing lost (every heartbeat published reached the receiver: handled, or for the
   collector shed because a later one of its site replaced it while it was behind), and
   for the collector also: exactly that site found down, and never behind
   (collector/tracking/lag.py).
   The figure is the highest rate held; each receiver's MQTT session is removed after its
   rung, so no session queues copies during the next.

``--rate R`` runs one rung of the collector at R (``--interval`` what the heartbeats
announce: 100,000 sites at their production rate is ``--sites 100000 --rate 10000
--interval 10 --seconds 60``). Prints a table and a JSON line.

    .venv/bin/python bench/ingest.py [--sites 5000] [--seconds 10] [--drain 100000]
        [--start 4000] [--step 1.3] [--rate R] [--interval S] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.benchlib import (  # noqa: E402
    Login,
    add_json_arg,
    collector_login,
    emit,
    machine_line,
    print_figures,
)
from bench.ingest_rig import (  # noqa: E402
    INTERVAL_S,
    VICTIM,
    CollectorProc,
    _client,
    bare_receiver,
    forget_session,
    publish_batch,
    publisher,
)
from simulators.broker import Mosquitto  # noqa: E402


def drain_bare(reader: Login, load: Login, sites: int, count: int) -> int:
    """The ceiling of taking a queue off the broker."""
    ctx = mp.get_context("spawn")
    forget_session(reader, "bare-drain")
    c = _client(reader, "bare-drain", clean=False)
    c.subscribe("parkwatch/v1/+/+/+", 0)
    c.loop(1.0)
    c.disconnect()
    publish_batch(load, sites, count)
    counter, ready, stop = ctx.Value("q", 0), ctx.Event(), ctx.Event()
    p = ctx.Process(target=bare_receiver, args=(reader, "bare-drain", False, counter, ready,
                                                stop))
    p.start()
    ready.wait(30)
    rate = _watch_rate(lambda: counter.value)
    stop.set()
    p.join(10)
    forget_session(reader, "bare-drain")
    return rate


def _watch_rate(count) -> int:
    """Rate of a counter from its first move until it stops moving for 2 s."""
    samples, idle, last = [], time.monotonic(), -1
    while time.monotonic() - idle < 2.0:
        n = count()
        samples.append((time.monotonic(), n))
        if n != last:
            last, idle = n, time.monotonic()
        time.sleep(0.05)
    moving = [(t, n) for t, n in samples if n > 0]
    if not moving:
        return 0
    first = moving[0]
    end = next((t, n) for t, n in moving if n == moving[-1][1])
    return round((end[1] - first[1]) / (end[0] - first[0])) if end[0] > first[0] else 0


def drain_collector(broker: Mosquitto, reader: Login, load: Login, sites: int, count: int,
                    work: Path) -> int:
    forget_session(reader, "bench-drain")
    col = CollectorProc(broker, sites, work, "bench-drain")
    col.stop()  # subscribed: the session now exists
    publish_batch(load, sites, count)
    col = CollectorProc(broker, sites, work, "bench-drain", subscribed=False)
    try:
        return _watch_rate(col.taken)
    finally:
        col.stop()
        forget_session(reader, "bench-drain")


# --- live rungs ------------------------------------------------------------------------------

def rung(broker: Mosquitto, reader: Login, load: Login, sites: int, seconds: float,
         work: Path, rate: float, interval: float, bare: bool) -> dict:
    """One rate offered live for ``seconds`` to a bare subscriber or to a collector."""
    ctx = mp.get_context("spawn")
    name = f"{'bare' if bare else 'live'}-{round(rate)}"
    published = ctx.Value("q", 0)
    col = None
    if bare:
        counter, ready, stop = ctx.Value("q", 0), ctx.Event(), ctx.Event()
        recv = ctx.Process(target=bare_receiver, args=(reader, name, True, counter, ready,
                                                        stop))
        recv.start()
        ready.wait(30)
        taken = lambda: counter.value  # noqa: E731
    else:
        col = CollectorProc(broker, sites, work, name)
        taken = col.taken
    pub = ctx.Process(target=publisher, args=(load, sites, seconds, published, rate,
                                              interval))
    try:
        pub.start()
        time.sleep(min(3.0, seconds / 4))  # warm up
        r0, t0 = taken(), time.monotonic()
        pub.join(seconds + 120)
        if pub.exitcode != 0 or not published.value:
            raise RuntimeError(f"the publisher failed (exit code {pub.exitcode})")
        r1, t1 = taken(), time.monotonic()
        _watch_rate(taken)  # until it stops moving: what is left in flight arrives
        total = taken()
        # Kept up: what arrived after the publisher was done is at most 1 s of the rate.
        late_s = (total - r1) / rate
        out = {"target_per_s": round(rate), "offered_per_s": round(published.value / seconds),
               "received_per_s": round((r1 - r0) / (t1 - t0)),
               "published": published.value, "taken": total,
               "lost": published.value - total, "late_s": round(late_s, 2)}
        if col is not None:
            h = col.health()
            down = [o["site"] for o in col.api.get("/api/outages").json()]
            out.update(shed=h["shed_heartbeats"], max_lag_s=h["max_lag_s"],
                       times_behind=h["times_behind"], correct=down == [VICTIM],
                       down=down[:5], false_downs=len([s for s in down if s != VICTIM]))
            out["held"] = out["lost"] <= 0 and late_s <= 1.0 and out["correct"] and \
                not h["times_behind"]
        else:
            out["held"] = out["lost"] <= 0 and late_s <= 1.0
    finally:
        if col is not None:
            col.stop()
        else:
            stop.set()
            recv.join(10)
        forget_session(reader, name)
    return out


def ladder(args, broker, reader, load, work, bare: bool) -> tuple[dict | None, list[dict]]:
    tried, best, rate = [], None, args.start
    while True:
        # At most 4 heartbeats/s per site: under the plausibility gate's 10/s.
        sites = max(args.sites, int(rate / 4))
        r = rung(broker, reader, load, sites, args.seconds, work, rate, args.interval, bare)
        r["sites"] = sites
        tried.append(r)
        print(f"  {'bare' if bare else 'collector'} at {rate:,.0f}/s: "
              f"{'held' if r['held'] else 'NOT held'} {json.dumps(r)}", flush=True)
        if not r["held"]:
            return best, tried
        best = r
        rate *= args.step


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sites", type=int, default=5000)
    ap.add_argument("--seconds", type=float, default=10.0, help="of each live rung")
    ap.add_argument("--drain", type=int, default=100000, help="heartbeats queued, then drained")
    ap.add_argument("--start", type=float, default=4000.0, help="the ladder's first rate")
    ap.add_argument("--step", type=float, default=1.3, help="the ladder's factor per rung")
    ap.add_argument("--rate", type=float, default=0.0,
                    help="one collector rung at this rate (no drains, no ladder)")
    ap.add_argument("--interval", type=float, default=INTERVAL_S,
                    help="heartbeat_interval_s the heartbeats announce")
    add_json_arg(ap)
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="pw-ingest-"))
    broker = Mosquitto(workdir=work / "mosquitto")
    with open(broker.conf, "a") as f:  # queue QoS 0 for absent persistent sessions
        f.write("queue_qos0_messages true\nmax_queued_bytes 0\n")
    # One account publishes for every bench site: the load generator stands in for the
    # fleet's gateways (each of which has its own account, confined to its own topics).
    load = Login(broker.port, "bench-load",
                 broker.add_account("bench-load", write=("parkwatch/v1/bench/#",)))
    broker.start()
    reader = collector_login(broker)
    try:
        if args.rate:
            return _single(args, broker, reader, load, work)
        drained_bare = drain_bare(reader, load, args.sites, args.drain)
        drained_col = drain_collector(broker, reader, load, args.sites, args.drain, work)
        ceiling, bare_tried = ladder(args, broker, reader, load, work, bare=True)
        best, tried = ladder(args, broker, reader, load, work, bare=False)
    finally:
        broker.stop()
    top = ceiling["offered_per_s"] if ceiling else 0
    held = best["offered_per_s"] if best else 0
    last = best or tried[-1]
    figures = {
        "benchmark": "ingest",
        "workload": f"{args.drain:,} queued heartbeats drained by bare paho+JSON and by one "
                    f"`parkwatch collector run`; then {args.sites:,} sites' heartbeats "
                    f"offered live for {args.seconds:g} s per rung from {args.start:,.0f}/s "
                    f"up by x{args.step:g} until not held (0 lost; for the collector also "
                    "the one silent site found down and never behind), to bare paho+JSON "
                    "(the ceiling) and to the collector, through one mosquitto on loopback",
        "sites": args.sites,
        "drain_bare_paho_json_per_s": drained_bare,
        "drain_collector_per_s": drained_col,
        "drain_share_of_ceiling_pct": round(100 * drained_col / drained_bare)
        if drained_bare else None,
        "drain_collector_note": "taken off the broker: handled, or shed for a later "
                                "heartbeat of the same site queued behind it",
        "ladder_ceiling_bare_held_per_s": top,
        "ladder_collector_held_per_s": held,
        "ladder_share_of_ceiling_pct": round(100 * held / top) if top else None,
        "live_offered_per_s": held,
        "live_collector_heartbeats_per_s": last["received_per_s"],
        "live_share_of_ceiling_pct": round(100 * held / top) if top else None,
        "collector_detection_correct": last["correct"],
        "collector_sites_found_down": last["down"],
        "collector_shed_at_held": last["shed"],
        "collector_max_lag_s_at_held": last["max_lag_s"],
        "live_lost_pct": round(100 * max(0, last["lost"]) / last["published"], 2)
        if last["published"] else 0,
        "ladder_bare": bare_tried,
        "ladder_collector": tried,
        "machine": machine_line(),
    }
    print_figures(figures)
    emit(figures, args.json)
    return 0


def _single(args, broker, reader, load, work) -> int:
    r = rung(broker, reader, load, args.sites, args.seconds, work, args.rate, args.interval,
             bare=False)
    figures = {
        "benchmark": "ingest",
        "workload": f"{args.sites:,} sites' heartbeats (interval {args.interval:g} s) offered "
                    f"live at {args.rate:,.0f}/s for {args.seconds:g} s to one `parkwatch "
                    "collector run`, one site falling silent after 2 s",
        "sites": args.sites, **r, "machine": machine_line()}
    print_figures(figures)
    emit(figures, args.json)
    return 0  # a rung not held is a figure ("held": false), not a failure to measure


if __name__ == "__main__":
    sys.exit(main())
