"""Benchmark: scale-out of partitioned collectors on a 3-node NATS cluster (issue 15).

In one run: a 3-node NATS cluster mapping the fleet to ``--partitions`` partitions, one
PostgreSQL database per step, and for N = 1, 2, 3 collectors (collector i on node i, all
on the step's database) the aggregate heartbeats/s they take in (handled, or shed for a
later one of their site; the sum over collectors of /healthz ``received`` +
``shed_heartbeats``) over ``--seconds``, while ``--publishers`` processes offer ``--sites``
sites' heartbeats at ``--rate`` in all (beyond what one collector takes). Each step starts
once the leases settled: every collector holds partitions, together each exactly once.
Also: RSS per site held (psutil RSS / the sites of its partitions); the takeover time with
N = 2 (kill -9 one collector, without load: until the survivor's /healthz lists every
partition); and the reference, one plain collector on one mosquitto with its SQLite
database (as bench/ingest.py), offered the same load. Prints a table, the ratios and a
JSON line.

    .venv/bin/python bench/scale_out.py [--sites 2000] [--rate 30000] [--seconds 20]
        [--publishers 3] [--partitions 12] [--quick] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.benchlib import Login, add_json_arg, emit, machine_line  # noqa: E402
from bench.ingest_rig import CollectorProc, publisher, site_names  # noqa: E402
from collector.fleet.partitions import partition_of  # noqa: E402
from simulators.broker import Mosquitto  # noqa: E402
from simulators.nats import NatsCluster  # noqa: E402
from simulators.postgres import PostgresServer, drop_fresh, fresh_database  # noqa: E402

INTERVAL_S = 10.0  # announced: a paced publisher behind its rate makes no site look down
LOAD_TOPIC = "parkwatch/v1/bench/+/heartbeat"


class PartProc(CollectorProc):
    """A partitioned ``parkwatch collector run`` on one node, its API on port 0."""

    def __init__(self, url: str, login: str, db: str, sites: int, partitions: int,
                 work: Path, name: str):  # (CollectorProc's launch, its own config)
        self.name = name
        cfg = work / f"{name}.toml"
        cfg.write_text(f'broker = "{url}"\nclient_id = "{name}"\n[database]\nurl = "{db}"\n'
                       f"[api]\nport = 0\nanonymous_read = true\n[partitions]\n"
                       f'count = {partitions}\nmember = "{name}"\n[mqtt]\n{login}'
                       f"\n[projects.bench]\nsites = "
                       f"{json.dumps(site_names(sites), separators=(',', ':'))}\n")
        self._launch(cfg, work)

    def held(self) -> list[int]:
        try:
            return self.health().get("partitions") or []
        except httpx.HTTPError:
            return []

    def rss(self) -> int:
        return psutil.Process(self.proc.pid).memory_info().rss

    def lines(self, text: str) -> int:
        return self.log.read_text(errors="replace").count(text)

    def stop(self, kill: bool = False) -> None:
        self.api.close()
        if kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        self.proc.wait(30)


def wait_until(cond, timeout: float, what: str) -> float:
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"not within {timeout} s: {what}")
        time.sleep(0.1)
    return time.monotonic() - t0


def settled(cols: list[PartProc], count: int) -> bool:
    held = [c.held() for c in cols]
    return all(held) and sorted(x for h in held for x in h) == list(range(count))


def offer(logins: list[Login], sites: int, seconds: float, rate: float, taken) -> dict:
    """``len(logins)`` publishers, ``rate`` in all, for ``seconds``; ``taken`` read after a
    warm-up and at the end of the window (the publishers still running)."""
    ctx = mp.get_context("spawn")
    names = site_names(sites)
    k = len(logins)
    counters = [ctx.Value("q", 0) for _ in logins]
    warm = min(4.0, seconds / 3)
    pubs = [ctx.Process(target=publisher, args=(lg, names[i::k], seconds + warm + 1,
                                                counters[i], rate / k, INTERVAL_S, False))
            for i, lg in enumerate(logins)]
    for p in pubs:
        p.start()
    time.sleep(warm)
    r0, t0 = taken(), time.monotonic()
    time.sleep(seconds)
    r1, t1 = taken(), time.monotonic()
    for p in pubs:
        p.join(seconds + 120)
    published = sum(c.value for c in counters)
    return {"taken_per_s": round((r1 - r0) / (t1 - t0)),
            "offered_per_s": round(published / (seconds + warm + 1))}


def nats_step(nats: NatsCluster, pg: PostgresServer, n: int, args, work: Path,
              loads: list[Login], takeover: bool) -> dict:
    db = fresh_database(pg)
    login = nats.mqtt_toml()
    cols = []
    try:
        for i in range(n):
            cols.append(PartProc(nats.urls[i], login, db, args.sites, args.partitions, work,
                                 f"c{i + 1}-n{n}"))
        settle_s = wait_until(lambda: settled(cols, args.partitions), 90,
                              f"{n} collectors' leases settled")
        r = offer(loads, args.sites, args.seconds, args.rate,
                  lambda: sum(c.taken() for c in cols))
        held = [c.held() for c in cols]
        r.update(collectors=n, settle_s=round(settle_s, 1),
                 still_settled=settled(cols, args.partitions),
                 partitions_held=[len(h) for h in held],
                 lease_lost_lines=sum(c.lines("lease lost") for c in cols),
                 frozen_lines=sum(c.lines("the collector was frozen") for c in cols))
        per = []
        for c, h in zip(cols, held, strict=True):
            mine = sum(1 for s in site_names(args.sites)
                       if partition_of("bench", s, args.partitions) in h)
            per.append(round(c.rss() / mine) if mine else None)
        r["rss_per_site_bytes"] = per
        r["rss_mb"] = [round(c.rss() / 2**20, 1) for c in cols]
        if takeover:
            wait_until(lambda: settled(cols, args.partitions), 60, "settled before the kill")
            cols[0].stop(kill=True)
            survivor = cols.pop()
            cols.pop(0)
            t = wait_until(lambda: len(survivor.held()) == args.partitions, 120,
                           "the survivor holding every partition")
            r["takeover_s"] = round(t, 1)
            cols.append(survivor)
        return r
    finally:
        for c in cols:
            c.stop()
        drop_fresh(pg, db)


def mosquitto_step(args, work: Path) -> dict:
    broker = Mosquitto(workdir=work / "mosq")
    loads = [Login(broker.port, "bench-load",
                   broker.add_account("bench-load", write=("parkwatch/v1/bench/#",)))]
    broker.start()
    try:
        col = CollectorProc(broker, args.sites, work, "mosq")
        try:
            r = offer(loads * args.publishers, args.sites, args.seconds, args.rate,
                      col.taken)
            r["rss_per_site_bytes"] = round(psutil.Process(col.proc.pid).memory_info().rss
                                            / args.sites)
            return r
        finally:
            col.stop()
    finally:
        broker.stop()


def figures(r: dict) -> list[tuple]:
    """bench/run_all.py's rows: the aggregate per N, the ratios and the takeover."""
    rows = [(f"{n} partitioned collector(s), NATS, taken heartbeats/s",
             f"{s['taken_per_s']:,}", f"x{r[f'ratio_{n}_over_1']} of 1, "
             f"x{r[f'ratio_{n}_over_mosquitto']} of mosquitto") for n, s in r["nats"].items()]
    return rows + [("1 collector, mosquitto + SQLite, taken heartbeats/s",
                    f"{r['mosquitto_sqlite']['taken_per_s']:,}", ""),
                   ("takeover, N=2, kill -9", f"{r['takeover_s']} s", "no load")]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sites", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=30000, help="heartbeats/s offered in all")
    ap.add_argument("--seconds", type=float, default=20, help="the measured window")
    ap.add_argument("--publishers", type=int, default=3)
    ap.add_argument("--partitions", type=int, default=12)
    ap.add_argument("--quick", action="store_true", help="about a minute: 500 sites, 5 s")
    add_json_arg(ap)
    args = ap.parse_args(argv)
    if args.quick:
        args.sites, args.seconds = 500, 5
    work = Path(tempfile.mkdtemp(prefix="pw-scale-"))
    steps: dict[int, dict] = {}
    with PostgresServer() as pg:
        nats = NatsCluster(workdir=work / "nats", partitions=args.partitions, ack_wait_s=5)
        password = nats.add_account("bench-load", write=(LOAD_TOPIC,))
        nats.start()
        try:
            loads = [Login(nats.nodes[i % 3].mqtt_port, "bench-load", password)
                     for i in range(args.publishers)]
            for n in (1, 2, 3):
                print(f"# {n} collector(s) on the NATS cluster", file=sys.stderr)
                steps[n] = nats_step(nats, pg, n, args, work, loads, takeover=n == 2)
        finally:
            nats.close()
    print("# one collector on mosquitto (SQLite)", file=sys.stderr)
    mosq = mosquitto_step(args, work)
    one, ref = steps[1]["taken_per_s"], mosq["taken_per_s"]
    print(f"{'setup':<34}{'offered/s':>10}{'taken/s':>10}{'vs N=1':>8}{'vs mosq':>8}"
          f"  lease lost  RSS/site (B)")
    for n, r in steps.items():
        print(f"{f'{n} collector(s), NATS x3, PostgreSQL':<34}{r['offered_per_s']:>10,}"
              f"{r['taken_per_s']:>10,}{r['taken_per_s'] / one:>8.2f}"
              f"{r['taken_per_s'] / ref:>8.2f}  {r['lease_lost_lines']:>10}  "
              f"{r['rss_per_site_bytes']}")
    print(f"{'1 collector, mosquitto, SQLite':<34}{mosq['offered_per_s']:>10,}{ref:>10,}"
          f"{ref / one:>8.2f}{1:>8.2f}  {'-':>10}  {mosq['rss_per_site_bytes']}")
    ratios = {f"ratio_{n}_over_1": round(steps[n]["taken_per_s"] / one, 2) for n in steps}
    ratios.update({f"ratio_{n}_over_mosquitto": round(steps[n]["taken_per_s"] / ref, 2)
                   for n in steps})
    for k, v in ratios.items():
        print(f"{k:<26}{v}")
    print(f"takeover_s (N=2, kill -9, no load)  {steps[2]['takeover_s']}")
    figures = {
        "benchmark": "scale_out",
        "workload": f"{args.sites:,} sites' heartbeats offered at {args.rate:,.0f}/s by "
                    f"{args.publishers} publisher(s) for {args.seconds:g} s (after a warm-up) "
                    f"to 1, 2 and 3 partitioned collectors ({args.partitions} partitions) on "
                    "a 3-node NATS cluster with one PostgreSQL database, and to one "
                    "collector on mosquitto with SQLite; taken = received + shed",
        "sites": args.sites, "rate": args.rate,
        "nats": {str(n): r for n, r in steps.items()}, "mosquitto_sqlite": mosq,
        **ratios, "takeover_s": steps[2]["takeover_s"], "machine": machine_line()}
    emit(figures, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
