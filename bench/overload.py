"""Benchmark: a collector offered more than it drains (issue 13).

In one run, against one mosquitto on loopback: the collector's drain rate is measured first
(``--sites`` queued heartbeats, one per site, so none coalesces, taken off by one
``parkwatch collector run``). Then, for each factor of ``--factors`` (2 and 5), a fresh
collector is offered that many times its drain rate for ``--seconds``: ``--sites`` sites'
heartbeats from two publisher processes, one site falling silent after 2 s, and QoS 1
events (``--events`` per second) from a third. Per phase it prints what was offered, what
was handled, how many heartbeats were shed (a later one of the site took their place), the
worst lag (collector/tracking/lag.py), the sites declared down that were not (must be 0) and the
events published and acknowledged by the broker but not stored (must be 0).

    .venv/bin/python bench/overload.py [--seconds 30] [--sites 20000] [--factors 2,5]
        [--events 20] [--json FILE]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as mqtt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.benchlib import (  # noqa: E402
    Login,
    add_json_arg,
    collector_login,
    emit,
    machine_line,
    print_figures,
)
from bench.ingest import _watch_rate, drain_collector  # noqa: E402
from bench.ingest_rig import (  # noqa: E402
    VICTIM,
    CollectorProc,
    forget_session,
    publisher,
    site_names,
)
from parkwatch.core import wire  # noqa: E402
from simulators.broker import Mosquitto  # noqa: E402

EVENT_SITES = 30


def events(load: Login, seconds: float, rate: float, counter) -> None:
    """QoS 1 events; counted once the broker acknowledged them."""
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="events",
                    protocol=mqtt.MQTTv311)
    load.connect(c)
    c.loop_start()
    names = site_names(EVENT_SITES + 1)[1:]
    sent, start, k = [], time.time(), 0
    while time.time() - start < seconds:
        site = names[k % EVENT_SITES]
        # Numbered below the site's heartbeats, as an agent's one counter would keep them:
        # a jump in a site's numbers is a lost message to the collector (collector/tracking/lag.py).
        ev = wire.Event("bench", site, 1, k // EVENT_SITES, time.time(), "loop_timeout",
                        device="gate-1")
        sent.append(c.publish(wire.topic("bench", site, wire.EVENT), wire.encode(ev), qos=1))
        k += 1
        time.sleep(max(0.0, start + k / rate - time.time()))
    for info in sent:
        info.wait_for_publish(60)
    counter.value = sum(1 for info in sent if info.is_published())
    c.loop_stop()
    c.disconnect()


def phase(broker, reader, load, work, sites: int, seconds: float, rate: float,
          event_rate: float, name: str) -> dict:
    ctx = mp.get_context("spawn")
    interval = max(2.0, round(1.5 * sites / rate, 1))  # every site heard within it
    names = site_names(sites)
    col = CollectorProc(broker, sites, work, name)
    counters = [ctx.Value("q", 0) for _ in range(3)]
    procs = [ctx.Process(target=publisher, args=(load, names[k::2], seconds, counters[k],
                                                 rate / 2, interval)) for k in range(2)]
    procs.append(ctx.Process(target=events, args=(load, seconds, event_rate, counters[2])))
    h0 = col.health()
    t0 = time.monotonic()
    for p in procs:
        p.start()
    for p in procs:
        p.join(seconds + 180)
    t1 = time.monotonic()
    h1 = col.health()
    _watch_rate(col.taken)  # until nothing more arrives
    deadline = time.monotonic() + 120  # then until it has handled what it holds
    while (h := col.health())["backlog"] and time.monotonic() < deadline:
        time.sleep(0.2)
    published, acked = counters[0].value + counters[1].value, counters[2].value
    down = [o["site"] for o in col.api.get("/api/outages").json()]
    col.stop()
    forget_session(reader, name)
    db = sqlite3.connect(f"file:{work / name}.db?mode=ro", uri=True)
    stored = db.execute("SELECT count(*) FROM site_events").fetchone()[0]
    db.close()
    return {"offered_per_s": round(published / seconds),
            "handled_per_s": round((h1["received"] - h0["received"]) / (t1 - t0)),
            "published": published, "handled": h["received"],
            "shed_heartbeats": h["shed_heartbeats"],
            "heartbeats_not_received": published + acked - h["received"] - h["shed_heartbeats"],
            "max_lag_s": h["max_lag_s"], "times_behind": h["times_behind"],
            "false_downs": len([s for s in down if s != VICTIM]),
            "silent_site_found_down": VICTIM in down,
            "events_acked_by_broker": acked, "events_stored": stored,
            "events_lost": acked - stored, "interval_s": interval}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=30.0, help="of each phase")
    ap.add_argument("--sites", type=int, default=20000)
    ap.add_argument("--factors", default="2,5", help="multiples of the drain rate offered")
    ap.add_argument("--events", type=float, default=20.0, help="QoS 1 events per second")
    add_json_arg(ap)
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="pw-overload-"))
    broker = Mosquitto(workdir=work / "mosquitto")
    with open(broker.conf, "a") as f:  # the drain: QoS 0 queued for an absent session
        f.write("queue_qos0_messages true\nmax_queued_bytes 0\n")
    # "Outgoing messages are being dropped for client ...": the broker says when it drops.
    broker.conf.write_text(broker.conf.read_text().replace(
        "log_type error\n", "log_type error\nlog_type notice\nlog_type warning\n"))
    load = Login(broker.port, "bench-load",
                 broker.add_account("bench-load", write=("parkwatch/v1/bench/#",)))
    broker.start()
    reader = collector_login(broker)
    phases = {}
    try:
        drain = drain_collector(broker, reader, load, args.sites, args.sites, work)
        if not drain:
            raise SystemExit(f"overload: {args.sites} queued heartbeats drained too fast to "
                             "time; give more --sites")
        for f in (float(x) for x in args.factors.split(",")):
            phases[f"{f:g}x"] = r = phase(broker, reader, load, work, args.sites,
                                          args.seconds, f * drain, args.events, f"over-{f:g}")
            print(f"  {f:g}x the drain: {r}", flush=True)
    finally:
        broker.stop()
    log = (work / "mosquitto" / "mosquitto.log")
    drops = log.read_text(errors="replace").count("are being dropped") if log.exists() else 0
    figures = {
        "benchmark": "overload",
        "workload": f"one `parkwatch collector run` offered {args.factors} times its measured "
                    f"drain rate for {args.seconds:g} s each: {args.sites:,} sites' "
                    f"heartbeats, one falling silent, and {args.events:g} QoS 1 events/s, "
                    "through one mosquitto on loopback",
        "drain_per_s": drain,
        **{f"{k}_{name}": v for k, r in phases.items() for name, v in r.items()},
        "false_downs": sum(r["false_downs"] for r in phases.values()),
        "events_lost": sum(r["events_lost"] for r in phases.values()),
        "broker_said_dropping": drops,
        "machine": machine_line(),
    }
    print_figures(figures)
    emit(figures, args.json)
    return 0 if not figures["false_downs"] and not figures["events_lost"] else 1


if __name__ == "__main__":
    sys.exit(main())
