"""``bench/run_all.py --repeat N``: a benchmark's runs folded into one row per headline figure
(min / median / max over the runs that finished), and the run of one benchmark as a process
group that is cleaned up after it, whether it finished, failed or ran out of time.

A figure's value is a number, or a string of numbers joined by `` / `` (``"0.5 / 0.6"``) with
thousands commas or a ``%``: each part is folded on its own, and printed back the way the
benchmark wrote it. A value that is not numbers (``"-"``) is shown as the runs gave it.
"""

from __future__ import annotations

import os
import re
import signal
import statistics
import subprocess
import time
from pathlib import Path

_NUMBER = re.compile(r"^-?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?%?$")
REAP_S = 10.0  # how long what a benchmark left behind gets to go after SIGTERM


def _parts(value) -> list[str] | None:
    parts = [p.strip() for p in str(value).split(" / ")]
    return parts if all(_NUMBER.match(p) for p in parts) else None


def _number(text: str) -> float:
    return float(text.rstrip("%").replace(",", ""))


def _shaped(x: float, like: list[str]) -> str:
    """``x`` written as the values ``like`` were: decimals, thousands commas, ``%``."""
    decimals = max((len(t.rstrip("%").partition(".")[2]) for t in like), default=0)
    text = f"{x:,.{decimals}f}" if any("," in t for t in like) else f"{x:.{decimals}f}"
    return text + ("%" if like[0].endswith("%") else "")


def fold(values: list) -> tuple[str, str, str]:
    """(min, median, max) of one figure's values over the runs."""
    split = [_parts(v) for v in values]
    if not values or any(s is None or len(s) != len(split[0]) for s in split):
        shown = " | ".join(dict.fromkeys(str(v) for v in values)) or "-"
        return shown, shown, shown
    out = []
    for pick in (min, statistics.median, max):
        out.append(" / ".join(_shaped(pick([_number(s[i]) for s in split]), [s[i] for s in split])
                              for i in range(len(split[0]))))
    return out[0], out[1], out[2]


def fold_rows(runs: list[dict]) -> list[list]:
    """One ``[figure, min, median, max, notes]`` per figure of the runs that finished (their
    ``summary`` rows; each different note once), in the order the first run gave them, and a
    row saying how many runs did not finish."""
    done = [r for r in runs if r["status"] == "ok"]
    by_figure: dict[str, list] = {}
    notes: dict[str, dict] = {}
    for r in done:
        for figure, value, note in r["summary"]:
            by_figure.setdefault(figure, []).append(value)
            notes.setdefault(figure, {})[note] = None  # each different note once, in order
    rows = [[figure, *fold(values), " | ".join(notes[figure])
             + (f" ({len(values)} of {len(runs)} runs)" if len(values) != len(runs) else "")]
            for figure, values in by_figure.items()]
    failed = [r for r in runs if r["status"] != "ok"]
    if failed:
        rows.append(["runs not ok", f"{len(failed)} of {len(runs)}", "", "",
                     ", ".join(sorted({r["status"] for r in failed}))])
    return rows


def _group_left(pgid: int, leader: int) -> list[int]:
    """Processes still in the group, the (unreaped) leader apart."""
    left = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == leader:
            continue
        try:
            fields = (d / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            left.append(int(d.name))
    return left


def _exited(pid: int) -> bool:
    """Whether the child has exited, without reaping it (its id stays its group's)."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def run_group(cmd: list[str], cwd: Path, out, err, limit: float) -> tuple[int | None, int]:
    """Run ``cmd`` in a session of its own for at most ``limit`` seconds; then stop whatever
    of its process group is left (the broker, collector and agent a benchmark started: all
    of them on a timeout), and only then reap it, so its id cannot name another group
    meanwhile. Returns (exit code, or None on a timeout; processes it left behind)."""
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=err, start_new_session=True)
    deadline = time.monotonic() + limit
    while not _exited(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    timed_out = not _exited(proc.pid)
    left = _group_left(proc.pid, proc.pid)
    if timed_out or left:
        os.killpg(proc.pid, signal.SIGTERM)
        gone_by = time.monotonic() + REAP_S
        while (_group_left(proc.pid, proc.pid) or not _exited(proc.pid)) \
                and time.monotonic() < gone_by:
            time.sleep(0.05)
        if _group_left(proc.pid, proc.pid) or not _exited(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
    code = proc.wait()
    return (None if timed_out else code), len(left)
