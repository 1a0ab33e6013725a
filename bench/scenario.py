"""Benchmark: the scenario runner over a year of a fleet (issue 5).

Generates a scenario of N sites (default 10,000 in 100 projects) with ten outages each
(uplink drops, device faults and offline devices, software crashes, 1-90 minutes, at random
times of the year, seeded), runs it through ``parkwatch sim scenario``'s runner and prints the
wall time, peak memory and the counts, as a table and as JSON.

    .venv/bin/python bench/scenario.py                 # 10,000 sites
    .venv/bin/python bench/scenario.py --sites 100     # the issue's "well under a minute"
    .venv/bin/python bench/scenario.py --json out.json # also write the JSON to a file
"""

from __future__ import annotations

import argparse
import random
import resource
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


def generate(path: Path, sites: int, per_site: int, seed: int) -> None:
    rnd = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=SH)
    year_s = 365 * 86400
    per_project = 100
    lines = ['start = "2026-01-01T00:00:00+08:00"', 'end = "2027-01-01T00:00:00+08:00"',
             "heartbeat_interval_s = 10", "outage_threshold_s = 60", ""]
    projects = (sites + per_project - 1) // per_project
    for p in range(projects):
        n = min(per_project, sites - p * per_project)
        names = ", ".join(f'"S{i:03d}"' for i in range(n))
        lines += ["[[project]]", f'id = "P{p:04d}"', f"sites = [{names}]", ""]
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
    path.write_text("\n".join(lines))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sites", type=int, default=10000)
    ap.add_argument("--outages", type=int, default=10, help="per site")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--keep", help="directory to keep the scenario and database in")
    add_json_arg(ap)
    args = ap.parse_args(argv)
    work = Path(args.keep or tempfile.mkdtemp(prefix="pw-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    toml, db = work / "fleet.toml", work / "fleet.db"
    for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        p.unlink(missing_ok=True)
    t0 = time.perf_counter()
    generate(toml, args.sites, args.outages, args.seed)
    t1 = time.perf_counter()
    scenario = spec.load(toml)
    t2 = time.perf_counter()
    summary = runner.run(scenario, db)
    t3 = time.perf_counter()
    from collector.store import open_db

    d = open_db(db)
    first = report.projects(d)[0]["project"]
    t4 = time.perf_counter()
    report.budget(d, first, 2026)
    t5 = time.perf_counter()
    figures = {
        "benchmark": "scenario",
        "workload": f"a year (2026) of {args.sites:,} sites in projects of 100, "
                    f"{args.outages} outages each (1-90 min, seeded), through the scenario "
                    "runner on a virtual clock into a fresh SQLite database",
        "sites": args.sites, "events": summary["events"], "outages": summary["outages"],
        "incidents": summary["incidents"], "messages": summary["messages"],
        "generate_s": round(t1 - t0, 2), "parse_s": round(t2 - t1, 2),
        "run_s": round(t3 - t2, 2), "budget_one_project_s": round(t5 - t4, 4),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "db_mib": round(sum(p.stat().st_size for p in work.glob("fleet.db*")) / 2**20, 1),
        "machine": machine_line(),
    }
    print_figures(figures)
    emit(figures, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
