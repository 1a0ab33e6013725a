"""Agent footprint: peak RSS and CPU share of one core, polling simulated barriers at 1 Hz.

Starts a broker (mosquitto, or the embedded one without it), 16 simulated barrier
controllers on pseudo-terminals and one ``parkwatch agent run`` process polling each once a
second, with a fault toggled on one barrier every 10 s so events flow through the outbox.
After a warm-up it samples the agent's RSS every 0.5 s and its CPU time over the run.

    .venv/bin/python bench/agent_footprint.py [--devices 16] [--duration 60] [--repeat N]
        [--reference DIR] [--json out.json]

``--repeat N`` measures N fresh agents one after the other and reports min/median/max (the
top-level figures are the medians). ``--reference DIR`` measures, in the same run and
alternating with this tree's agent, the agent of another source tree (a ``git worktree``
of an older commit, say), with the same interpreter and simulators: on a shared machine
the ratio of the two is the figure to trust.

Prints a table, then the same figures as one JSON object. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import statistics
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

RSS_GOAL_MB, CPU_GOAL_PCT = 30.0, 1.0
SPREAD = ("peak_rss_mb", "final_rss_mb", "cpu_pct_of_one_core", "polls_per_s")


def measure(args, tree: Path) -> dict:
    """One agent, run from source tree ``tree``, measured over ``args.duration``."""
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
    env = {**os.environ, "PYTHONPATH": str(tree)}  # that tree's agent, whatever is installed
    # the command line's home in that tree (an older tree keeps it in the agent package)
    cli = "parkwatch.cli" if (tree / "parkwatch" / "cli.py").exists() else "agent" + ".cli"
    agent = subprocess.Popen([sys.executable, "-m", cli, "agent", "run", "--config",
                              str(cfg)], cwd=tree, env=env, stdout=subprocess.DEVNULL,
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
    return {"duration_s": round(wall, 1), "polls_per_s": round(queries / wall, 2),
            "peak_rss_mb": round(peak / 1e6, 1), "final_rss_mb": round(rss / 1e6, 1),
            "cpu_pct_of_one_core": round(100 * cpu_s / wall, 2), "broker": broker.name}


def summary(runs: list[dict]) -> dict:
    """The medians at the top level (the keys of a single run), min/median/max beside."""
    out = {k: statistics.median(r[k] for r in runs) for k in (*SPREAD, "duration_s")}
    out["spread"] = {k: [min(r[k] for r in runs), out[k], max(r[k] for r in runs)]
                     for k in SPREAD}
    out["runs"] = runs
    return out


def _cell(s: dict, key: str) -> str:
    lo, mid, hi = s["spread"][key]
    return f"{mid:g}" if lo == hi else f"{mid:g} ({lo:g}-{hi:g})"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--devices", type=int, default=16)
    ap.add_argument("--duration", type=float, default=60.0, help="measured seconds")
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--repeat", type=int, default=1, help="agents measured (default 1)")
    ap.add_argument("--reference", metavar="DIR", type=Path,
                    help="also measure the agent of this source tree, alternating")
    add_json_arg(ap)
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")

    runs: list[dict] = []
    ref_runs: list[dict] = []
    for _ in range(args.repeat):
        runs.append(measure(args, ROOT))
        if args.reference:
            ref_runs.append(measure(args, args.reference.resolve()))
    result = {
        "benchmark": "agent_footprint",
        "workload": f"one `parkwatch agent run` process polling {args.devices} simulated "
                    "barrier controllers (one pseudo-terminal each) at 1 Hz, heartbeats every "
                    f"10 s, a fault toggled every 10 s; measured {args.duration:g} s after a "
                    f"{args.warmup:g} s warm-up, {args.repeat} time(s)",
        "devices": args.devices, "poll_hz": 1.0, "repeat": args.repeat,
        **summary(runs),
        "goal_rss_mb": RSS_GOAL_MB, "goal_cpu_pct": CPU_GOAL_PCT,
        "machine": machine_line(), "broker": runs[0]["broker"],
    }
    rows = [("devices polled at 1 Hz", str(args.devices), "", ""),
            ("polls per second (measured)", _cell(result, "polls_per_s"), "", "polls_per_s"),
            ("peak RSS (MB)", _cell(result, "peak_rss_mb"), f"goal <= {RSS_GOAL_MB:g}",
             "peak_rss_mb"),
            ("CPU, % of one core", _cell(result, "cpu_pct_of_one_core"),
             f"goal <= {CPU_GOAL_PCT:g}", "cpu_pct_of_one_core")]
    head = "median (min-max)" if args.repeat > 1 else "value"
    if args.reference:
        ref = result["reference"] = {"tree": str(args.reference), **summary(ref_runs)}
        print(f"{'agent footprint':30} {head:>20} {'reference ' + head:>26}  goal")
        for name, value, goal, key in rows:
            other = _cell(ref, key) if key else value
            print(f"{name:30} {value:>20} {other:>26}  {goal}")
    else:
        print(f"{'agent footprint':30} {head:>20}  goal")
        for name, value, goal, _key in rows:
            print(f"{name:30} {value:>20}  {goal}")
    emit(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
