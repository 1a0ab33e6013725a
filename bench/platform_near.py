"""Benchmark: ingest while a platform incident holds many members (issue 11, part 4).

100,000 made-up site ids each sending one heartbeat and then their Will made a platform
incident with 100,000 members; every further drop scanned them all
(``PlatformDetector._near``), so ingest fell to ~14 msg/s. This drives the tracker (the
collector's pure core, no broker, no database) through the same workload, once with the
old scan and once with the heap that replaced it, and prints messages per second for the
Wills of the sites joining the platform incident, where the member scan was paid, and of
the drops before it formed, where the recent-drop window was a pass over every earlier drop.

    .venv/bin/python bench/platform_near.py [--sites 100000] [--before-sites 20000] [--json FILE]

The old scans are O(n) per drop, so ``--before-sites`` (default 20,000) keeps its run
to a minute; its rate at 100,000 would be about five times lower again.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.benchlib import add_json_arg, emit, machine_line, print_figures  # noqa: E402
from collector.tracking.platform import PlatformDetector, PlatformRule  # noqa: E402
from collector.tracking.tracker import Tracker  # noqa: E402
from parkwatch.core import wire  # noqa: E402
from tests.collector.test_platform_near import ScanDetector  # noqa: E402  (the detector as it was)


def run(sites: int, detector: type) -> dict:
    t = Tracker(60.0, 3.0, PlatformRule())
    t.platform = detector(PlatformRule())
    names = [f"fake{i:06d}" for i in range(sites)]
    now = 1_800_000_000.0
    t0 = time.perf_counter()
    for i, s in enumerate(names):
        t.receive(wire.Heartbeat("made-up", s, 1, 1, now, 10.0, {}), now + i * 1e-4)
    t1 = time.perf_counter()
    now += sites * 1e-4
    formed_at, formed_n = None, 0
    for i, s in enumerate(names):
        t.receive(wire.Status("made-up", s, "offline", 1, now, "will"), now + i * 1e-5)
        if formed_at is None and t.platform.active is not None:
            formed_at, formed_n = time.perf_counter(), i + 1
    t2 = time.perf_counter()
    joined = sites - formed_n
    return {"sites": sites, "members": len(t.platform.members),
            "heartbeats_per_s": round(sites / (t1 - t0)),
            "drops_before_platform": formed_n,
            "drops_before_platform_per_s": round(formed_n / (formed_at - t1)),
            "joins_per_s": round(joined / (t2 - formed_at)) if joined else None}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sites", type=int, default=100_000)
    ap.add_argument("--before-sites", type=int, default=20_000)
    add_json_arg(ap)
    args = ap.parse_args(argv)
    before = run(args.before_sites, ScanDetector)
    after_same = run(args.before_sites, PlatformDetector)
    after = run(args.sites, PlatformDetector)
    figures = {
        "benchmark": "platform_near",
        "workload": f"made-up sites each sending a heartbeat then a Will into the tracker, "
                    f"all joining one platform incident: the old scans on "
                    f"{args.before_sites:,} sites, the heap on {args.before_sites:,} and "
                    f"{args.sites:,}",
        # Wills of sites joining the platform incident: where the member scan was paid.
        "before_sites": before["sites"],
        "before_joins_per_s": before["joins_per_s"],
        "after_same_sites_joins_per_s": after_same["joins_per_s"],
        "after_sites": after["sites"],
        "after_members": after["members"],
        "after_joins_per_s": after["joins_per_s"],
        # Wills before the platform formed (30% of the online sites): the recent-drop window
        # was a pass over every drop of the last window_s too (collector/tracking/dropwindow.py).
        "before_drops_before_platform_per_s": before["drops_before_platform_per_s"],
        "after_same_sites_drops_before_platform_per_s":
            after_same["drops_before_platform_per_s"],
        "after_drops_before_platform": after["drops_before_platform"],
        "after_drops_before_platform_per_s": after["drops_before_platform_per_s"],
        "after_heartbeats_per_s": after["heartbeats_per_s"],
        "machine": machine_line(),
    }
    print_figures(figures)
    emit(figures, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
