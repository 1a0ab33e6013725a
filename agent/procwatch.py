"""Watching the site's parking software: a process that is missing is a software outage.

``ProcessWatch`` is the pure part: given what a scan found and ``now``, it says what
changed. ``ProcessScanner`` is the psutil shell. A watched entry is ``fault`` while no
matching process runs (a zombie or a stopped process does not count as running) and
``ok`` when one runs again; a crash and restart between two checks shows up as a new pid
and is reported as both (fault from the last check that saw the old process, ok from the
start of the new one).

Exit details: psutil cannot give the exit code of a process that is not the agent's
child (Linux keeps it for the parent only), so a fault carries what was known while it
ran: pid, how long it ran, its last status and command line.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from agent.config import ProcessConfig

log = logging.getLogger("parkwatch.agent.procwatch")

NOT_RUNNING = ("zombie", "dead", "stopped", "tracing-stop")


@dataclass(frozen=True)
class Seen:
    """One matching process as a scan saw it."""

    pid: int
    create_time: float
    status: str = "running"
    cmdline: str = ""


@dataclass(frozen=True)
class SoftwareChange:
    process: str
    prev: str
    state: str   # "ok" or "fault"
    since: float
    detail: dict = field(default_factory=dict)


@dataclass
class _Entry:
    state: str = "unknown"
    current: Seen | None = None
    last_seen: float | None = None   # when a check last found it running
    since: float | None = None


class ProcessWatch:
    def __init__(self, names: list[str]):
        self.entries = {name: _Entry() for name in names}

    def observe(self, now: float, found: dict[str, list[Seen]]) -> list[SoftwareChange]:
        out: list[SoftwareChange] = []
        for name, e in self.entries.items():
            procs = found.get(name, [])
            alive = sorted((p for p in procs if p.status not in NOT_RUNNING),
                           key=lambda p: (p.create_time, p.pid))
            if not alive:
                if e.state != "fault":
                    out.append(self._down(name, e, now, procs))
                continue
            main = alive[0]
            if e.state == "ok" and e.current is not None and \
                    all(p.pid != e.current.pid for p in alive):
                # The one we knew is gone and another runs: it restarted between checks.
                out.append(self._down(name, e, e.last_seen or now, [], restarted=main))
            if e.state != "ok":
                since = main.create_time if e.since is None else max(main.create_time, e.since)
                out.append(self._change(name, e, "ok", min(since, now),
                                        {"process": name, "pid": main.pid,
                                         "started": round(main.create_time, 3),
                                         "cmdline": main.cmdline[:200]}))
            e.current, e.last_seen = main, now
        return out

    def _down(self, name: str, e: _Entry, since: float, procs: list[Seen],
              restarted: Seen | None = None) -> SoftwareChange:
        detail: dict = {"process": name}
        old = e.current
        if old is not None:
            detail.update(pid=old.pid, cmdline=old.cmdline[:200],
                          started=round(old.create_time, 3))
            if e.last_seen is not None:
                detail["ran_for_s"] = round(max(0.0, e.last_seen - old.create_time), 1)
                detail["last_seen"] = round(e.last_seen, 3)
        if procs:  # still listed, but not running
            detail["status"] = procs[0].status
            detail.setdefault("pid", procs[0].pid)
        elif restarted is not None:
            detail["restarted"] = True
            detail["new_pid"] = restarted.pid
        elif e.state == "unknown":
            detail["reason"] = "not running when the agent started"
        else:
            detail["reason"] = "exited"
        return self._change(name, e, "fault", since, detail)

    @staticmethod
    def _change(name: str, e: _Entry, state: str, since: float, detail: dict) -> SoftwareChange:
        change = SoftwareChange(name, e.state, state, since, detail)
        e.state, e.since = state, since
        if state == "fault":
            e.current = None
        return change


class ProcessScanner:
    """Finds the watched processes with psutil; cheap while they keep running.

    A full scan of the process table costs tens of milliseconds on a small ARM gateway,
    so while every watched process is known and alive only those pids are checked.
    """

    def __init__(self, configs: tuple[ProcessConfig, ...]):
        import psutil

        self.psutil = psutil
        self.configs = configs
        self.known: dict[str, Seen] = {}
        self.own_pid = os.getpid()

    def scan(self) -> dict[str, list[Seen]]:
        quick = self._quick()
        if quick is not None:
            return quick
        found: dict[str, list[Seen]] = {c.name: [] for c in self.configs}
        for p in self.psutil.process_iter(["pid", "name", "cmdline", "create_time", "status"]):
            info = p.info
            if info["pid"] == self.own_pid or info["create_time"] is None:
                continue
            cmdline = " ".join(info["cmdline"] or [])
            for c in self.configs:
                if self._matches(c, info["name"] or "", cmdline):
                    found[c.name].append(Seen(info["pid"], info["create_time"],
                                              info["status"] or "", cmdline))
        self.known = {}
        for name, procs in found.items():
            alive = [s for s in procs if s.status not in NOT_RUNNING]
            if alive:
                self.known[name] = min(alive, key=lambda s: (s.create_time, s.pid))
        return found

    def _quick(self) -> dict[str, list[Seen]] | None:
        if len(self.known) != len(self.configs):
            return None
        out = {}
        for name, seen in self.known.items():
            try:
                p = self.psutil.Process(seen.pid)
                if p.create_time() != seen.create_time:
                    return None
                status = p.status()
            except self.psutil.Error:
                return None
            if status in NOT_RUNNING:
                return None
            out[name] = [Seen(seen.pid, seen.create_time, status, seen.cmdline)]
        return out

    @staticmethod
    def _matches(c: ProcessConfig, name: str, cmdline: str) -> bool:
        if c.process is not None and name != c.process:
            return False
        return c.cmdline is None or c.cmdline in cmdline
