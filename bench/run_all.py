"""Run every benchmark, each in its own process with a time limit, and print one table.

    .venv/bin/python bench/run_all.py [--quick] [--only NAME[,NAME]] [--repeat N] [--json FILE]

Each benchmark under ``bench/`` is run as a subprocess with ``--json`` and a bounded time;
its JSON object (which states its workload) is collected, the headline figures go into one
table, and the whole run (machine, load average, every benchmark's object) is printed as one
JSON object on the last line and written to ``--json FILE``. ``--quick`` runs small
workloads (about two minutes in all) to check that the harness works; the figures in
docs/performance.md come from a full run. Exit code 1 when any benchmark failed or ran out
of time. ``--repeat N`` runs each benchmark N times (one after the other, each in a fresh
process group that is cleaned up before the next) and prints min / median / max over the
runs for every headline figure; the JSON keeps every run. Not part of the test suite
(tests/sim/test_bench_smoke.py only checks it still runs).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from bench.benchlib import load_average, machine  # noqa: E402
from bench.repeats import fold_rows, run_group  # noqa: E402


@dataclass(frozen=True)
class Bench:
    name: str
    script: str
    full: list[str]
    quick: list[str]
    timeout_s: float          # full run
    quick_timeout_s: float
    figures: object = field(default=None)  # JSON object -> [(figure, value, note)]


def _n(x) -> str:
    return f"{x:,}" if isinstance(x, int) else str(x)


def _spread(s: dict | None) -> str:
    if not s:
        return "-"
    return f"{s['min']} / {s['median']} / {s['p90']} / {s['max']}"


def ingest_figures(r: dict) -> list[tuple]:
    ok = "detection correct" if r["collector_detection_correct"] else "DETECTION WRONG"
    return [
        ("collector live ingest, heartbeats/s", _n(r["live_collector_heartbeats_per_s"]),
         f"{ok}, lost {r['live_lost_pct']}%"),
        ("raw paho receive ceiling, heartbeats/s", _n(r["drain_bare_paho_json_per_s"]),
         "same run, same broker"),
        ("live ingest / ceiling", f"{r['live_share_of_ceiling_pct']}%", ""),
        ("collector draining a queue, heartbeats/s", _n(r["drain_collector_per_s"]),
         f"{r['drain_share_of_ceiling_pct']}% of the ceiling"),
    ]


def detection_figures(r: dict) -> list[tuple]:
    rows = [("cut -> incident declared, s (min/med/p90/max)", _spread(r["declared_after_cut_s"]),
             f"threshold {r['threshold_s']:g} s, {r['cuts']} cuts")]
    for mode, m in r["by_mode"].items():
        rows.append((f"  {mode} cuts, declared / known down, s median",
                     f"{(m['declared_after_cut_s'] or {}).get('median', '-')} / "
                     f"{(m['detected_after_cut_s'] or {}).get('median', '-')}",
                     "by " + ", ".join(m["detected_by"])))
    lo, hi = r["expected_window_s"]
    early, late = r.get("slack_s", (0, 0))
    rows.append(("last heartbeat -> declared, s", _spread(r["declared_after_last_heartbeat_s"]),
                 f"cut -> declared expected {lo:g}-{hi:g} s (-{early:g}/+{late:g} slack): "
                 f"{'all within' if r['within_expected'] else 'SOME OUTSIDE'}"))
    return rows


def footprint_figures(r: dict) -> list[tuple]:
    return [("agent peak RSS, MB", r["peak_rss_mb"],
             f"goal <= {r['goal_rss_mb']:g}; {r['devices']} devices at 1 Hz"),
            ("agent CPU, % of one core", r["cpu_pct_of_one_core"],
             f"goal <= {r['goal_cpu_pct']:g}; {r['polls_per_s']} polls/s")]


def scenario_figures(r: dict) -> list[tuple]:
    if not r.get("completed", True):
        return [(f"a year of {r['sites']:,} sites, run s", f"> {r['run_s']}",
                 f"stopped at {r['time_limit_s']:g} s with {r['year_done_pct']} % of the year "
                 f"done: that pace is {r['projected_run_s']} s a year; + {r['parse_s']} s parse"),
                ("scenario peak RSS when stopped, MiB", r["peak_rss_mib"], "")]
    return [(f"a year of {r['sites']:,} sites, run s", r["run_s"],
             f"+ {r['generate_s']} s generate, {r['parse_s']} s parse; "
             f"{r['outages']:,} outages, {r['incidents']:,} incidents"),
            ("scenario peak RSS, MiB", r["peak_rss_mib"], f"database {r['db_mib']} MiB")]


def production_rate_figures(r: dict) -> list[tuple]:
    return [(f"{r['sites']:,} sites at {r['target_per_s']:,}/s: offered / received, per s",
             f"{r['offered_per_s']:,} / {r['received_per_s']:,}",
             f"{'held' if r['held'] else 'NOT HELD'}: lost {r['lost']:,}, false downs "
             f"{r['false_downs']}, max lag {r['max_lag_s']} s, behind {r['times_behind']}x")]


def decode_figures(r: dict) -> list[tuple]:
    goal = r["goal_frames_per_s"]
    return [(f"decode {p['profile']}, frames/s", _n(p["frames_per_s"]),
             f"goal {goal:,}" + ("" if p["meets_goal"] else ": BELOW"))
            for p in r["results"]]


def replay_figures(r: dict) -> list[tuple]:
    return [("outbox replay, events/s", _n(r["replay_events_per_s"]),
             f"{r['received']:,}/{r['events']:,} received"),
            ("outbox store (broker down), events/s", _n(r["fill_events_per_s"]),
             "one fsync'd commit each")]


def workflow_figures(r: dict) -> list[tuple]:
    return [("workflow lifecycle actions/s", _n(r["lifecycle_actions_per_s"]), ""),
            (f"monthly report, {r['monthly_report_incidents']:,} incidents, s",
             r["monthly_report_s"], ""),
            (f"clock pass, {r['live_incidents']:,} live incidents, s",
             f"{r['clock_pass_first_s']} / {r['clock_pass_steady_s']}", "first / steady")]


def overload_figures(r: dict) -> list[tuple]:
    rows = []
    for k in ("2x", "5x"):
        if f"{k}_offered_per_s" in r:
            rows.append((f"overload {k} the drain: offered / handled, per s",
                         f"{r[f'{k}_offered_per_s']:,} / {r[f'{k}_handled_per_s']:,}",
                         f"shed {r[f'{k}_shed_heartbeats']:,}, max lag {r[f'{k}_max_lag_s']} s, "
                         f"false downs {r[f'{k}_false_downs']}, events lost "
                         f"{r[f'{k}_events_lost']}"))
    return rows


def pg_backend_figures(r: dict) -> list[tuple]:
    from bench.pg_backend import figures

    return figures(r)[:4]


def scale_out_figures(r: dict) -> list[tuple]:
    from bench.scale_out import figures

    return figures(r)


BENCHES = [
    Bench("ingest", "ingest.py", [], ["--sites", "200", "--drain", "10000", "--seconds", "12"],
          360, 150, ingest_figures),
    Bench("detection", "detection.py", ["--cuts", "30"], ["--cuts", "4"], 360, 90,
          detection_figures),
    Bench("agent_footprint", "agent_footprint.py", ["--devices", "16", "--duration", "60"],
          ["--devices", "16", "--duration", "8", "--warmup", "2"], 150, 60, footprint_figures),
    Bench("scenario", "scenario.py", ["--sites", "10000"], ["--sites", "100"], 300, 60,
          scenario_figures),
    Bench("scenario_100k", "scenario.py", ["--sites", "100000", "--time-limit", "300"],
          ["--sites", "300", "--time-limit", "20"], 600, 60, scenario_figures),
    Bench("ingest_100k", "ingest.py",
          ["--sites", "100000", "--rate", "10000", "--interval", "10", "--seconds", "60"],
          ["--sites", "1000", "--rate", "500", "--interval", "2", "--seconds", "12"], 240, 60,
          production_rate_figures),
    Bench("decode", "decode.py", ["--seconds", "1"], ["--seconds", "0.1"], 120, 60,
          decode_figures),
    Bench("agent_replay", "agent_replay.py", ["--events", "5000", "--timeout", "120"],
          ["--events", "500", "--timeout", "30"], 180, 60, replay_figures),
    Bench("workflow", "workflow_bench.py", ["--live", "5000", "--month", "10000"],
          ["--live", "200", "--month", "500"], 300, 60, workflow_figures),
    Bench("overload", "overload.py", [], ["--seconds", "5"], 420, 150,
          overload_figures),
    Bench("pg_backend", "pg_backend.py", [],
          ["--sites", "2000", "--scenario-sites", "30", "--requests", "200"], 1500, 150,
          pg_backend_figures),
    Bench("scale_out", "scale_out.py", [], ["--quick"],
          600, 150, scale_out_figures),
]
BY_NAME = {b.name: b for b in BENCHES}


def run_one(b: Bench, quick: bool, work: Path, tag: str = "") -> dict:
    out_json = work / f"{b.name}{tag}.json"
    args = b.quick if quick else b.full
    cmd = [sys.executable, "-W", "ignore", str(BENCH / b.script), *args, "--json", str(out_json)]
    limit = b.quick_timeout_s if quick else b.timeout_s
    entry = {"command": " ".join(["bench/" + b.script, *args]), "timeout_s": limit,
             "load_average_at_start": load_average()}
    started = time.monotonic()
    err_path = work / f"{b.name}{tag}.err"
    with open(work / f"{b.name}{tag}.out", "wb") as out, open(err_path, "wb") as err:
        # Its own process group: the benchmark goes together with the broker, collector and
        # agent processes it started, on a timeout and also when it left any behind.
        code, left = run_group(cmd, ROOT, out, err, limit)
    entry["wall_s"] = round(time.monotonic() - started, 1)
    entry["exit_code"] = code
    if left:
        entry["processes_left_behind"] = left
    if out_json.exists():
        entry["result"] = json.loads(out_json.read_text())
    if code is None:
        entry["status"] = "timed out"
    elif code != 0 or "result" not in entry:
        entry["status"] = "failed"
    else:
        entry["status"] = "ok"
    if entry["status"] != "ok":
        tail = err_path.read_text(errors="replace").strip().splitlines()[-5:]
        entry["error"] = "\n".join(tail)
    return entry


def summary_rows(b: Bench, entry: dict) -> list[tuple]:
    if "result" not in entry:
        return [(b.name, entry["status"], f"after {entry['wall_s']} s")]
    try:
        rows = b.figures(entry["result"])
    except (KeyError, TypeError) as e:  # a benchmark's JSON changed shape: say so
        return [(b.name, "unreadable result", f"missing {e}")]
    if entry["status"] != "ok":
        rows.append((b.name, entry["status"], f"exit {entry['exit_code']}"))
    return rows


def _columns(rows: list[tuple], header: tuple) -> None:
    """Rows under ``header``: names left, values right, the note last."""
    w = [max(len(str(r[i])) for r in [*rows, header]) for i in range(len(header) - 1)]
    for r in [header, None, *rows]:
        if r is None:
            print("-" * (sum(w) + 2 * len(w) + 28))
            continue
        cells = [f"{r[i]!s:<{w[i]}}" if i < 2 else f"{r[i]!s:>{w[i]}}" for i in range(len(w))]
        print("  ".join(cells) + f"  {r[-1]}")


def print_table(report: dict) -> None:
    m = report["machine"]
    repeat = report.get("repeat", 1)
    print(f"parkwatch benchmarks ({report['mode']}{f', {repeat} runs each' if repeat > 1 else ''}"
          f"), {report['wall_s']} s: {m['cpu']}, "
          f"{m['cores']} cores, {m['ram_gb']} GB RAM, Python {m['python']}, mosquitto "
          f"{m['mosquitto']}, load average {report['load_average_before']} before, "
          f"{report['load_average_after']} after")
    rows = [(name, *r) for name, e in report["benchmarks"].items() for r in e["summary"]]
    if repeat > 1:
        _columns(rows, ("benchmark", "figure", "min", "median", "max", "note"))
    else:
        _columns(rows, ("benchmark", "figure", "value", "note"))
    print("\nworkloads:")
    for name, e in report["benchmarks"].items():
        runs = e.get("runs", [e])
        workload = next((r["result"]["workload"] for r in runs if "workload" in
                         r.get("result", {})), "(no result)")
        print(f"  {name} [{'; '.join(_run_line(r) for r in runs)}]: {workload}")
        for r in runs:
            if r.get("error"):
                print("    " + r["error"].replace("\n", "\n    "))


def _run_line(run: dict) -> str:
    left = run.get("processes_left_behind")
    return (f"{run['status']}, {run['wall_s']} s, load {run['load_average_at_start']}"
            + (f", {left} processes left behind (stopped)" if left else ""))


def run_repeated(b: Bench, quick: bool, work: Path, repeat: int) -> dict:
    """One benchmark ``repeat`` times: its entry (the run itself when ``repeat`` is 1)."""
    runs = []
    for i in range(repeat):
        run = run_one(b, quick, work, f"-{i + 1}" if repeat > 1 else "")
        run["summary"] = [list(r) for r in summary_rows(b, run)]
        runs.append(run)
        print(f"run_all: {b.name}{f' run {i + 1}/{repeat}' if repeat > 1 else ''} "
              f"{run['status']} in {run['wall_s']} s", file=sys.stderr, flush=True)
    if repeat == 1:
        return runs[0]
    bad = [r["status"] for r in runs if r["status"] != "ok"]
    return {"repeat": repeat, "status": bad[0] if bad else "ok",
            "wall_s": round(sum(r["wall_s"] for r in runs), 1),
            "summary": fold_rows(runs), "runs": runs}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="small workloads: checks the harness, not figures to quote")
    ap.add_argument("--only", help=f"comma-separated names: {', '.join(BY_NAME)}")
    ap.add_argument("--repeat", type=int, default=1, metavar="N",
                    help="run each benchmark N times; print min / median / max of each figure")
    ap.add_argument("--json", metavar="FILE", help="also write the JSON object to FILE")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        print(f"run_all: --repeat must be at least 1, got {args.repeat}", file=sys.stderr)
        return 2
    names = [n.strip() for n in args.only.split(",")] if args.only else list(BY_NAME)
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        print(f"run_all: unknown benchmark {', '.join(unknown)} "
              f"(known: {', '.join(BY_NAME)})", file=sys.stderr)
        return 2
    report = {"harness": "bench/run_all.py", "mode": "quick" if args.quick else "full",
              "repeat": args.repeat, "machine": machine(), "load_average_before": load_average(),
              "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "benchmarks": {}}
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="pw-bench-all-"))
    for name in names:
        b = BY_NAME[name]
        print(f"run_all: {name} (at most {b.quick_timeout_s if args.quick else b.timeout_s:g} "
              "s) ...", file=sys.stderr, flush=True)
        report["benchmarks"][name] = run_repeated(b, args.quick, work, args.repeat)
    report["wall_s"] = round(time.monotonic() - started, 1)
    report["load_average_after"] = load_average()
    report["logs"] = str(work)
    print_table(report)
    print(json.dumps(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0 if all(e["status"] == "ok" for e in report["benchmarks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
