"""Workflow benchmark: how long the worker's clock pass, the lifecycle actions and the monthly
report take at a large operator's volumes. Prints a table, then the figures as JSON.

    .venv/bin/python bench/workflow_bench.py [--live 5000] [--month 10000] [--json FILE]

``--live``: incidents open at once (the clock pass walks all of them every tick, by
default every 5 s). ``--month``: incidents in the reported month, each dispatched, answered,
resolved, verified and closed through the store like the API does it.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.benchlib import add_json_arg, emit, machine_line  # noqa: E402
from collector.workflow.business_time import BusinessClock  # noqa: E402
from collector.workflow.config import WorkflowConfig  # noqa: E402
from collector.workflow.report import monthly_report  # noqa: E402
from collector.workflow.service import WorkflowService  # noqa: E402
from collector.workflow.store import WorkflowStore  # noqa: E402

GROUPS = ("remote-ops", "branch-after-sales", "technical-liaison", "operations-centre")
MARCH = datetime(2026, 3, 1, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t, out


def fields(i: int, opened: float) -> dict:
    return {"source": "manual", "project": f"P{i % 300:03d}", "site": "S1",
            "device": "gate-in", "kind": "device_fault", "severity": 2,
            "title": "bench", "opened_at": opened}


def fill_month(store: WorkflowStore, n: int, rng: random.Random) -> tuple[float, int]:
    """n incidents through their whole lifecycle; returns (seconds, actions)."""
    start, actions = time.perf_counter(), 0
    for i in range(n):
        t = MARCH + rng.uniform(0, 30 * 86400)
        tid = store.create(fields(i, t), t, "seat", dispatch_to=rng.choice(GROUPS))
        for action in ("ack", "arrive", "resolve", "verify", "close"):
            t += rng.uniform(60, 3600)
            store.act(tid, action, t, "bench")
        actions += 7  # create, dispatch and the five above
    return time.perf_counter() - start, actions


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--live", type=int, default=5000)
    p.add_argument("--month", type=int, default=10000)
    add_json_arg(p)
    args = p.parse_args(argv)
    rng = random.Random(6)
    results = {"benchmark": "workflow",
               "workload": f"{args.month:,} incidents of one month through their whole "
                           f"lifecycle in SQLite (7 recorded actions each: create, dispatch, "
                           f"ack, arrive, resolve, verify, close), the monthly report over "
                           f"them, then the clock pass over {args.live:,} incidents open at "
                           f"once (first pass, then a second one second later); business-"
                           f"time arithmetic on 20,000 random starts"}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = WorkflowConfig()
        store = WorkflowStore(Path(tmp) / "bench.db", cfg)
        secs, actions = fill_month(store, args.month, rng)
        results["lifecycle_actions_per_s"] = round(actions / secs)
        now = MARCH + 40 * 86400
        secs, rep = timed(monthly_report, store, "2026-03", now)
        results["monthly_report_s"] = round(secs, 3)
        results["monthly_report_incidents"] = rep["incidents"]
        for i in range(args.live):
            t = now - rng.uniform(0, 3 * 86400)
            store.create(fields(i, t), t, "seat", dispatch_to=rng.choice(GROUPS))
        svc = WorkflowService(store, cfg)
        first, new = timed(svc.evaluate, now)
        again, _ = timed(svc.evaluate, now + 1)
        results["clock_pass_first_s"] = round(first, 3)
        results["clock_pass_events_recorded"] = new
        results["clock_pass_steady_s"] = round(again, 3)
        results["live_incidents"] = args.live
        store.close()
    bc = BusinessClock()
    starts = [MARCH + rng.uniform(0, 86400 * 365) for _ in range(20000)]
    secs, _ = timed(lambda: [bc.add(s, 7200) for s in starts])
    results["business_add_per_s"] = round(len(starts) / secs)
    secs, _ = timed(lambda: [bc.elapsed(s, s + 3 * 86400) for s in starts])
    results["business_elapsed_3d_per_s"] = round(len(starts) / secs)

    results["machine"] = machine_line()
    width = max(map(len, results))
    for k, v in results.items():
        if k != "workload":
            print(f"{k.ljust(width)}  {v}")
    emit(results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
