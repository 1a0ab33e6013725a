"""The benchmark harness still runs: its quick mode on the cheapest benchmark, and every
benchmark still takes --json. Figures are not judged here (docs/performance.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench import run_all

ROOT = Path(__file__).resolve().parents[2]


def test_quick_harness_on_decode_prints_a_table_and_json(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "run_all.py"), "--quick",
                           "--only", "decode", "--json", str(out)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert json.loads(done.stdout.strip().splitlines()[-1]) == report
    assert report["mode"] == "quick"
    assert {"cpu", "cores", "ram_gb", "python", "mosquitto", "load_average"} <= \
        report["machine"].keys()
    entry = report["benchmarks"]["decode"]
    assert entry["status"] == "ok" and entry["exit_code"] == 0
    result = entry["result"]
    assert result["benchmark"] == "decode" and result["workload"]
    profiles = {r["profile"] for r in result["results"]}
    assert {"bg-5b-xor", "lpr-isapi-http", "bg-modbus-rtu (registers)"} <= profiles
    assert all(r["frames_per_s"] > 0 for r in result["results"])
    assert len(entry["summary"]) == len(result["results"])  # one table row per profile
    assert "decode bg-5b-xor, frames/s" in done.stdout  # the table


def test_every_benchmark_takes_json_file_and_the_five_issue_figures_are_there():
    for b in run_all.BENCHES:
        script = ROOT / "bench" / b.script
        assert script.exists(), script
        assert '"--json"' in script.read_text() or "add_json_arg(" in script.read_text(), \
            f"{b.script} has no --json FILE option"
    assert set(run_all.BY_NAME) >= {"ingest", "detection", "agent_footprint", "scenario",
                                    "decode"}  # the issue's five figures


def test_unknown_benchmark_is_one_line_and_exit_2():
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "run_all.py"), "--only",
                           "nope"], capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("run_all: unknown benchmark nope")
    assert len(done.stderr.strip().splitlines()) == 1
