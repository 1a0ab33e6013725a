"""Agent footprint: peak RSS and CPU share of one core, polling simulated barriers at 1 Hz.

Starts a broker (mosquitto, or the embedded one without it), 16 simulated barrier
controllers on pseudo-terminals and one ``parkwatch agent run`` process polling each once a
second, with a fault toggled on one barrier every 10 s so events flow through the outbox.
After a warm-up it samples the agent's RSS every 0.5 s and its CPU time over the run.

    .venv/bin/python bench/agent_footprint.py [--devices 16] [--duration 60] [--json out.json]

Prints a table, then the same figures as one JSON object. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.benchlib import add_json_arg, emit, machine_line  # noqa: E402
from simulators.barrier import BarrierSim  # noqa: E402
from simulators.broker import start_broker  # noqa: E402

RSS_GOAL_MB, CPU_GOAL_PCT = 40.0, 2.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--devices", type=int, default=16)
    ap.add_argument("--duration", type=float, default=60.0, help="measured seconds")
    ap.add_argument("--warmup", type=float, default=5.0)
    add_json_arg(ap)
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="pw-bench-agent-"))
    broker = start_broker()
    sims = [BarrierSim().start() for _ in range(args.devices)]
    cfg = work / "agent.toml"
    text = (f'project = "bench"\nsite = "lot"\nbroker = "{broker.url}"\n'
            f'state_dir = "{work / "state"}"\nheartbeat_interval_s = 10\n'
            f'[mqtt]\n{broker.mqtt_toml("bench", "lot")}')
    for i, sim in enumerate(sims):
        text += (f'\n[[devices]]\nname = "gate-{i}"\nport = "{sim.path}"\n'
                 "poll_interval_s = 1.0\ntimeout_s = 0.5\n")
    cfg.write_text(text)
    agent = subprocess.Popen([sys.executable, "-m", "parkwatch.cli", "agent", "run", "--config",
                              str(cfg)], cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=open(work / "agent.log", "w"))
    proc = psutil.Process(agent.pid)
    try:
        time.sleep(args.warmup)
        queries0 = sum(s.queries for s in sims)
        cpu0, t0 = proc.cpu_times(), time.monotonic()
        peak = rss = proc.memory_info().rss
        toggles = 0
        while (elapsed := time.monotonic() - t0) < args.duration:
            if int(elapsed // 10) + 1 > toggles:  # a fault on, or off, every 10 s
                sims[toggles % len(sims)].set_fault("motor" if toggles % 2 == 0 else None)
                toggles += 1
            time.sleep(0.5)
            rss = proc.memory_info().rss
            peak = max(peak, rss)
        cpu1, t1 = proc.cpu_times(), time.monotonic()
        queries = sum(s.queries for s in sims) - queries0
    finally:
        agent.terminate()
        agent.wait(15)
        for s in sims:
            s.stop()
        broker.stop()
    wall = t1 - t0
    cpu_s = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    result = {
        "benchmark": "agent_footprint",
        "workload": f"one `parkwatch agent run` process polling {args.devices} simulated "
                    "barrier controllers (one pseudo-terminal each) at 1 Hz, heartbeats every "
                    f"10 s, a fault toggled every 10 s; measured {args.duration:g} s after a "
                    f"{args.warmup:g} s warm-up",
        "devices": args.devices, "poll_hz": 1.0,
        "duration_s": round(wall, 1), "polls_per_s": round(queries / wall, 2),
        "peak_rss_mb": round(peak / 1e6, 1), "final_rss_mb": round(rss / 1e6, 1),
        "cpu_pct_of_one_core": round(100 * cpu_s / wall, 2),
        "goal_rss_mb": RSS_GOAL_MB, "goal_cpu_pct": CPU_GOAL_PCT,
        "machine": machine_line(), "broker": broker.name,
    }
    rows = [("devices polled at 1 Hz", result["devices"], ""),
            ("polls per second (measured)", result["polls_per_s"], ""),
            ("peak RSS (MB)", result["peak_rss_mb"], f"goal <= {RSS_GOAL_MB:g}"),
            ("CPU, % of one core", result["cpu_pct_of_one_core"], f"goal <= {CPU_GOAL_PCT:g}"),
            ("measured for (s)", result["duration_s"], "")]
    print(f"{'agent footprint':32} {'value':>8}  goal")
    for name, value, goal in rows:
        print(f"{name:32} {value:>8}  {goal}")
    emit(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
