"""Benchmark: the scenario runner over a year of a fleet, the workflow on (issues 5, 12, 13).

Generates a scenario of N sites (default 10,000 in 100 projects) with ten outages each
(uplink drops, device faults and offline devices, software crashes, 1-90 minutes, at random
times of the year, seeded), runs it through ``parkwatch sim scenario``'s runner (the
collector's core and the incident workflow: a ticket per incident, dispatched by the routing
table, its outage's end recorded) and prints the wall time, peak memory and the counts, as a
table and as JSON.

    .venv/bin/python bench/scenario.py                  # 10,000 sites
    .venv/bin/python bench/scenario.py --sites 100000   # a year of 100,000 sites
    .venv/bin/python bench/scenario.py --repeat 3       # min / median / max of 3 runs
    .venv/bin/python bench/scenario.py --responders     # simulated people work every ticket
    .venv/bin/python bench/scenario.py --json out.json  # also write the JSON to a file
    .venv/bin/python bench/scenario.py --sites 100000 --time-limit 300  # stop at 5 minutes

With ``--time-limit S`` a run still going after S seconds is stopped there: the figures
then say ``completed: false``, how much of the year the stored outages reached
(``year_done_pct``) and the run time that pace projects for the whole year.

Peak RSS is the process's (``getrusage``): generating the file, parsing it and every run.
"""

from __future__ import annotations

import argparse
import random
import resource
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.benchlib import add_json_arg, emit, machine_line, print_figures  # noqa: E402
from collector.downtime import report  # noqa: E402
from simulators.scenario import runner, spec  # noqa: E402

SH = timezone(timedelta(hours=8))
KINDS = ["uplink_down"] * 6 + ["device_offline", "device_fault", "software_down",
                               "uplink_down"]
# --responders: every group answers, so each ticket is acknowledged, resolved, verified
# and closed (the delays of docs/scenarios.md's example; the patrol answers too).
RESPONDERS = """[responders.remote-ops]
ack_after = "5m"
resolve_after = "30m"
[responders.branch-after-sales]
ack_after = "10m"
arrive_after = "1h"
resolve_after = "30m"
[responders.technical-liaison]
ack_after = "10m"
plan_after = "20m"
plan_changes = 1
resolve_after = "2h"
[responders.site-patrol]
ack_after = "15m"
resolve_after = "40m"
[responders.seat]
verify_after = "10m"
"""


def generate(path: Path, sites: int, per_site: int, seed: int,
             responders: bool = False) -> None:
    """The scenario file, written as it is made (100,000 sites are about 100 MB)."""
    rnd = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=SH)
    year_s = 365 * 86400
    per_project = 100
    with path.open("w") as f:
        f.write('start = "2026-01-01T00:00:00+08:00"\nend = "2027-01-01T00:00:00+08:00"\n'
                "heartbeat_interval_s = 10\noutage_threshold_s = 60\n\n")
        if responders:
            f.write(RESPONDERS + "\n")
        projects = (sites + per_project - 1) // per_project
        for p in range(projects):
            n = min(per_project, sites - p * per_project)
            names = ", ".join(f'"S{i:03d}"' for i in range(n))
            lines = ["[[project]]", f'id = "P{p:04d}"', f"sites = [{names}]", ""]
            for i in range(n):
                # Ten non-overlapping slots a year apart per site, one outage in each.
                slot = year_s // per_site
                for k in range(per_site):
                    kind = rnd.choice(KINDS)
                    at = start + timedelta(seconds=k * slot + rnd.randrange(0, slot - 6 * 3600))
                    minutes = rnd.choice([1, 2, 5, 10, 20, 30, 45, 90]) + rnd.random()
                    lines += ["[[event]]", f'site = "P{p:04d}/S{i:03d}"', f'kind = "{kind}"',
                              f'at = "{at.isoformat()}"', f'for = "{round(minutes * 60)}s"']
                    if kind == "device_fault":
                        lines.append('code = "motor_overheat"')
                    lines.append("")
            f.write("\n".join(lines) + "\n")


def fresh(db: Path) -> None:
    for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        p.unlink(missing_ok=True)


class OutOfTime(Exception):
    """--time-limit ran out during a run."""


def _out_of_time(signum, frame):
    raise OutOfTime


def run_within(scenario, db: Path, limit: float | None) -> dict | None:
    """The runner's summary, or None when ``limit`` seconds ran out first."""
    if limit:
        signal.signal(signal.SIGALRM, _out_of_time)
        signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        return runner.run(scenario, db)
    except OutOfTime:
        return None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def year_done(db: Path, start: float, end: float) -> float:
    """How far through the year the committed outages reach, 0-1."""
    with sqlite3.connect(db) as conn:
        latest = conn.execute("SELECT max(started_at) FROM outages").fetchone()[0]
    return 0.0 if latest is None else max(0.0, min(1.0, (latest - start) / (end - start)))


def spread(values: list[float]) -> dict:
    return {"min": round(min(values), 2), "median": round(statistics.median(values), 2),
            "max": round(max(values), 2)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sites", type=int, default=10000)
    ap.add_argument("--outages", type=int, default=10, help="per site")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=1, metavar="N",
                    help="run the year N times (a fresh database each) and give min, median "
                         "and max of the run's wall time")
    ap.add_argument("--responders", action="store_true",
                    help="simulated people acknowledge, resolve, verify and close every ticket")
    ap.add_argument("--keep", help="directory to keep the scenario and database in")
    ap.add_argument("--time-limit", type=float, metavar="S",
                    help="stop a run still going after S seconds and report how far it got")
    add_json_arg(ap)
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    work = Path(args.keep or tempfile.mkdtemp(prefix="pw-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    toml, db = work / "fleet.toml", work / "fleet.db"
    t0 = time.perf_counter()
    generate(toml, args.sites, args.outages, args.seed, args.responders)
    t1 = time.perf_counter()
    scenario = spec.load(toml)
    t2 = time.perf_counter()
    runs = []
    for _ in range(args.repeat):
        fresh(db)
        t = time.perf_counter()
        summary = run_within(scenario, db, args.time_limit)
        runs.append(time.perf_counter() - t)
        if summary is None:
            return stopped(args, scenario, db, runs[-1], t1 - t0, t2 - t1)
    from collector.db.connection import open_db

    d = open_db(db)
    first = report.projects(d)[0]["project"]
    t4 = time.perf_counter()
    report.budget(d, first, 2026)
    t5 = time.perf_counter()
    d.close()
    figures = {
        "benchmark": "scenario",
        "workload": workload(args), "completed": True,
        "sites": args.sites, "events": summary["events"], "outages": summary["outages"],
        "incidents": summary["incidents"], "messages": summary["messages"],
        "tickets": summary["tickets"], "tickets_closed": summary["tickets_closed"],
        "responder_steps": summary["responder_steps"],
        "generate_s": round(t1 - t0, 2), "parse_s": round(t2 - t1, 2),
        "run_s": round(min(runs), 2), "runs": args.repeat,
        "budget_one_project_s": round(t5 - t4, 4),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "db_mib": round(sum(p.stat().st_size for p in work.glob("fleet.db*")) / 2**20, 1),
        "machine": machine_line(),
    }
    if args.repeat > 1:
        figures["run_s_spread"] = spread(runs)
    print_figures(figures)
    emit(figures, args.json)
    return 0


def workload(args) -> str:
    return (f"a year (2026) of {args.sites:,} sites in projects of 100, "
            f"{args.outages} outages each (1-90 min, seeded), through the scenario "
            "runner on a virtual clock into a fresh SQLite database, the workflow on "
            "(a ticket per incident, dispatched, its outage's end recorded"
            + ("; simulated responders work every ticket to closed)" if args.responders
               else "; nobody answers)"))


def stopped(args, scenario, db: Path, run_s: float, generate_s: float, parse_s: float) -> int:
    """The figures of a run --time-limit stopped: how far it got, and that pace's year."""
    done = year_done(db, scenario.start, scenario.end)
    figures = {
        "benchmark": "scenario", "workload": workload(args), "completed": False,
        "sites": args.sites, "generate_s": round(generate_s, 2), "parse_s": round(parse_s, 2),
        "run_s": round(run_s, 2), "time_limit_s": args.time_limit,
        "year_done_pct": round(100 * done, 1),
        "projected_run_s": round(run_s / done) if done else None,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "machine": machine_line(),
    }
    print_figures(figures)
    emit(figures, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
