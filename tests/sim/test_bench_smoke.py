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


def test_repeat_keeps_every_run_and_folds_each_figure_to_min_median_max(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "run_all.py"), "--quick",
                           "--only", "decode", "--repeat", "2", "--json", str(out)],
                          capture_output=True, text=True, timeout=90, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["repeat"] == 2
    entry = report["benchmarks"]["decode"]
    assert entry["status"] == "ok" and len(entry["runs"]) == 2
    assert all(r["status"] == "ok" and r["result"]["benchmark"] == "decode"
               for r in entry["runs"])
    assert "processes_left_behind" not in entry["runs"][0]  # decode starts none
    row = next(r for r in entry["summary"] if r[0] == "decode bg-5b-xor, frames/s")
    values = sorted(next(p["frames_per_s"] for p in r["result"]["results"]
                         if p["profile"] == "bg-5b-xor") for r in entry["runs"])
    number = [int(v.replace(",", "")) for v in row[1:4]]
    assert number[0] == values[0] and number[2] == values[1]  # min and max of the runs
    assert values[0] <= number[1] <= values[1]                # their median between
    assert "median" in done.stdout and "2 runs each" in done.stdout


def test_folding_keeps_each_part_and_its_shape():
    from bench.repeats import fold

    assert fold(["1,000", "3,000", "2,000"]) == ("1,000", "2,000", "3,000")
    assert fold(["0.5 / 1.25", "0.7 / 1.0"]) == ("0.5 / 1.00", "0.6 / 1.12", "0.7 / 1.25")
    assert fold(["12.5%", "10.0%"]) == ("10.0%", "11.2%", "12.5%")
    assert fold(["-", "1"]) == ("- | 1", "- | 1", "- | 1")  # not numbers: as the runs said


def test_a_benchmark_that_leaves_processes_behind_has_them_stopped(tmp_path):
    from bench.repeats import run_group

    marker = tmp_path / "orphan.pid"
    script = ("import subprocess, sys\n"  # a child that outlives its parent, as a broker might
              "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
              f"open({str(marker)!r}, 'w').write(str(p.pid))\n")
    with open(tmp_path / "out", "wb") as out:
        code, left = run_group([sys.executable, "-c", script], ROOT, out, out, 30)
    assert (code, left) == (0, 1)
    orphan = int(marker.read_text())
    stat = Path(f"/proc/{orphan}/stat")
    assert not stat.exists() or stat.read_text().rpartition(")")[2].split()[0] == "Z"


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
