"""Benchmark: the PostgreSQL backend against SQLite, in one run (issue 15).

1. A year of a large fleet (bench/year_data.py: outages, incidents, events, delivery marks,
   sight, tickets) on both backends; each hot query (bench/hot_queries.py) timed without
   the indexes of migrations 006/wf_002 and with them, PostgreSQL's plans before and after.
2. The scenario year (bench/scenario.py's generator and the runner) on both: wall time and
   the PostgreSQL/SQLite ratio.
3. Authenticated API reads/s on both (bench/api_reads.py), and what a request's connection
   costs opened anew against kept for reuse (collector/db/pg_pool.py).

    .venv/bin/python bench/pg_backend.py                   # 100,000 sites; 1,000 in the scenario
    .venv/bin/python bench/pg_backend.py --sites 2000 --scenario-sites 50 --requests 200
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import hot_queries as hq  # noqa: E402
from bench.api_reads import reads_per_s  # noqa: E402
from bench.benchlib import add_json_arg, emit, machine_line, print_figures  # noqa: E402
from bench.scenario import generate  # noqa: E402
from bench.year_data import fill  # noqa: E402
from collector.db.connection import open_db, request_db  # noqa: E402
from simulators.postgres import PostgresServer, fresh_database  # noqa: E402
from simulators.scenario import runner, spec  # noqa: E402

SERVER = {"shared_buffers": "256MB", "work_mem": "16MB", "max_wal_size": "4GB"}


def index_part(target, sites: int, per_site: int, log) -> dict:
    db = open_db(target)
    try:
        made = fill(db, sites, per_site, log=log)
        log(f"  filled in {made['fill_s']} s: {made['rows']}")
        hq.drop_indexes(db)
        before = hq.time_all(db, sites)
        pg = getattr(db, "backend", "sqlite") == "postgresql"
        plans_before = hq.plans(db, hq.PLANS) if pg else {}
        built = hq.create_indexes(db)
        after = hq.time_all(db, sites)
        plans_after = hq.plans(db, hq.PLANS) if pg else {}
    finally:
        db.close()
    return {**made, "before_ms": before, "after_ms": after, "index_build_s": built,
            "plans_before": plans_before, "plans_after": plans_after}


def scenario_part(target, sites: int, work: Path) -> float:
    path = work / f"scenario-{sites}.toml"
    if not path.exists():
        generate(path, sites, 10, 5)
    scenario = spec.load(path)
    started = time.perf_counter()
    runner.run(scenario, target)
    return round(time.perf_counter() - started, 2)


def connection_cost(target, n: int = 300) -> dict:
    """Microseconds of a request's connection + one small read, opened anew vs borrowed."""
    out = {}
    for name, opener in (("opened", open_db), ("reused", request_db)):
        started = time.perf_counter()
        for _ in range(n):
            db = opener(target)
            list(db.query("SELECT count(*) AS n FROM projects"))
            db.close()
        out[name] = round((time.perf_counter() - started) / n * 1e6)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sites", type=int, default=100_000, help="the year of the index part")
    ap.add_argument("--outages", type=int, default=10, help="per site and year")
    ap.add_argument("--scenario-sites", type=int, default=1000)
    ap.add_argument("--requests", type=int, default=2000, help="API reads per path")
    add_json_arg(ap)
    args = ap.parse_args(argv)
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    work = Path(tempfile.mkdtemp(prefix="pw-pgbench-"))
    result: dict = {"workload": f"a year of {args.sites:,} sites x {args.outages} outages "
                    f"(indexes), scenario year of {args.scenario_sites:,} sites, "
                    f"{args.requests:,} API reads per path, 4 clients"}
    with PostgresServer(settings=SERVER) as server:
        targets = {"sqlite": lambda name: work / f"{name}.db",
                   "postgresql": lambda name: fresh_database(server)}
        for backend, new in targets.items():
            log(f"{backend}: a year of {args.sites:,} sites")
            result[f"{backend}_index"] = index_part(new("year"), args.sites, args.outages, log)
            log(f"{backend}: the scenario year of {args.scenario_sites:,} sites")
            result[f"{backend}_scenario_s"] = scenario_part(new("scenario"),
                                                            args.scenario_sites, work)
            log(f"{backend}: API reads")
            api = new("api")
            result[f"{backend}_api"] = reads_per_s(api, work / backend, args.requests)
            result[f"{backend}_connection_us"] = connection_cost(api)
    result["scenario_ratio_pg_to_sqlite"] = round(
        result["postgresql_scenario_s"] / result["sqlite_scenario_s"], 2)
    print(machine_line())
    print_figures({name: f"{value}  ({note})" for name, value, note in figures(result)})
    emit(result, args.json)
    return 0


def figures(r: dict) -> list[tuple]:
    rows = [("scenario year, s (SQLite / PostgreSQL)",
             f"{r['sqlite_scenario_s']} / {r['postgresql_scenario_s']}",
             f"ratio {r['scenario_ratio_pg_to_sqlite']}")]
    for path in r["sqlite_api"]:
        rows.append((f"API GET {path}, reads/s (SQLite / PostgreSQL)",
                     f"{r['sqlite_api'][path]['per_s']} / {r['postgresql_api'][path]['per_s']}",
                     "all 200" if not (r["sqlite_api"][path]["not_ok"]
                                       or r["postgresql_api"][path]["not_ok"]) else "ERRORS"))
    c = r["postgresql_connection_us"]
    rows.append(("PostgreSQL request connection, us (new / reused)",
                 f"{c['opened']} / {c['reused']}",
                 f"SQLite {r['sqlite_connection_us']['opened']}"))
    for name in r["sqlite_index"]["before_ms"]:
        s, p = r["sqlite_index"], r["postgresql_index"]
        rows.append((f"{name}, ms before -> after",
                     f"SQLite {s['before_ms'][name]['ms']} -> {s['after_ms'][name]['ms']}; "
                     f"PostgreSQL {p['before_ms'][name]['ms']} -> {p['after_ms'][name]['ms']}",
                     f"{p['after_ms'][name]['rows']} rows"))
    return rows


if __name__ == "__main__":
    sys.exit(main())
