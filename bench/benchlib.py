"""What every benchmark shares: the machine it ran on and how its JSON leaves it.

Each benchmark prints a table for people and one JSON object (its last line of output);
``--json FILE`` also writes that object to FILE, which is how ``bench/run_all.py`` collects
them. Every object names its ``benchmark`` and states its ``workload`` in one sentence.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path


def add_json_arg(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--json", metavar="FILE", help="also write the JSON object to FILE")


def emit(result: dict, path: str | None) -> None:
    """The JSON line on stdout, and the file when asked for."""
    print(json.dumps(result))
    if path:
        Path(path).write_text(json.dumps(result, indent=2) + "\n")


def print_figures(figures: dict) -> None:
    """One ``name  value`` line per figure (the workload is said once, in the JSON)."""
    width = max(len(k) for k in figures)
    for k, v in figures.items():
        if k != "workload":
            print(f"{k.ljust(width)}  {v}")


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    m = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    return m.group(1).strip() if m else platform.machine()


def _ram_gb() -> float | None:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    m = re.search(r"^MemTotal:\s*(\d+) kB", text, re.M)
    return round(int(m.group(1)) / 2**20, 1) if m else None


def mosquitto_version() -> str | None:
    exe = shutil.which("mosquitto") or ("/usr/sbin/mosquitto"
                                        if Path("/usr/sbin/mosquitto").exists() else None)
    if exe is None:
        return None
    try:  # `mosquitto -h` prints its version on the first line and exits 3
        out = subprocess.run([exe, "-h"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"version (\S+)", out)
    return m.group(1) if m else None


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine() -> dict:
    """The machine in the words docs/performance.md uses."""
    return {"cpu": _cpu_model(), "arch": platform.machine(), "cores": os.cpu_count(),
            "ram_gb": _ram_gb(), "python": platform.python_version(),
            "os": f"{platform.system()} {platform.release()}",
            "mosquitto": mosquitto_version(), "load_average": load_average()}


def machine_line() -> str:
    m = machine()
    return f"{m['arch']}, {m['cores']} cores, Python {m['python']}"


def fleet_toml(project: str, sites) -> str:
    """Collector TOML registering a benchmark's sites in the fleet registry (a collector
    refuses every site it does not know): put it at the end of the config."""
    return f"\n[projects.{project}]\nsites = [{', '.join(f'{s!r}' for s in sites)}]\n"
