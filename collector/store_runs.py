"""The collector's own life in its database: its runs (``collector_runs``), its sight
(running and connected to the broker; the rest is unknown time) and the projects it counts
budgets for. A mixin of ``Store`` (collector/store.py), on its connection and transactions.
"""

from __future__ import annotations

import os
import socket


class RunTables:
    # ``Store`` provides ``db``, ``conn`` and ``transaction()``.

    def begin_run(self, now: float, partition: int | None = None,
                  epoch: int | None = None) -> int:
        """A collector process starts (or, partitioned, starts acting for ``partition``
        under lease ``epoch``). Sight left open by one that died (kill -9) for the same
        sites ends at the last moment it vouched for."""
        with self.conn:
            self.conn.execute("UPDATE sight SET open = 0 WHERE open = 1 AND run_id IN "
                              "(SELECT id FROM collector_runs WHERE partition IS ?)",
                              (partition,))
            self.conn.execute("UPDATE collector_runs SET stopped_at = alive_at "
                              "WHERE stopped_at IS NULL AND partition IS ?", (partition,))
            return self.conn.execute(
                "INSERT INTO collector_runs (started_at, alive_at, pid, host, partition, epoch) "
                "VALUES (?, ?, ?, ?, ?, ?)", (now, now, os.getpid(), socket.gethostname(),
                                              partition, epoch)).lastrowid

    def alive(self, run_id: int, now: float) -> None:
        """The collector vouches for everything up to ``now``."""
        with self._tx():
            self.conn.execute("UPDATE collector_runs SET alive_at = ? WHERE id = ?",
                              (now, run_id))
            self.conn.execute("UPDATE sight SET to_at = ? WHERE run_id = ? AND open = 1",
                              (now, run_id))

    def link_up(self, run_id: int, now: float) -> None:
        """Connected to the broker at ``now``: a new sight period of the run begins."""
        with self._tx():
            self.conn.execute("UPDATE sight SET open = 0 WHERE run_id = ? AND open = 1",
                              (run_id,))
            self.conn.execute("INSERT INTO sight (run_id, from_at, to_at) VALUES (?, ?, ?)",
                              (run_id, now, now))

    def link_down(self, run_id: int, now: float) -> None:
        """Cut off from the broker at ``now``: the run's open sight period ends."""
        with self._tx():
            self.conn.execute("UPDATE sight SET to_at = ?, open = 0 "
                              "WHERE run_id = ? AND open = 1", (now, run_id))

    def end_run(self, run_id: int, now: float) -> None:
        """The run stops at ``now``, having vouched for everything up to it."""
        self.link_down(run_id, now)
        with self._tx():
            self.conn.execute("UPDATE collector_runs SET alive_at = ?, stopped_at = ? "
                              "WHERE id = ?", (now, now, run_id))

    def _tx(self):
        return self.transaction()

    def ensure_project(self, project: str, timezone: str, budget_minutes: float,
                       threshold_s: float, replace: bool = False) -> None:
        """Projects and the rules their budget is counted by, so that a report read from
        the database alone counts as the collector did."""
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        with self._tx():
            self.conn.execute(f"{verb} INTO projects VALUES (?, ?, ?, ?)",
                              (project, timezone, budget_minutes, threshold_s))

    def project_names(self) -> set[str]:
        """The names of the projects stored so far."""
        return {r["project"] for r in self.db.query("SELECT project FROM projects")}

    def sight_since(self, since: float, partition: int | None = None) -> list[list[float]]:
        """[from_at, to_at] of the sight periods ending at or after ``since``, by start
        (of the runs for ``partition``, or of the whole fleet's)."""
        return [[r["from_at"], r["to_at"]] for r in self.db.query(
            "SELECT s.from_at, s.to_at FROM sight s JOIN collector_runs r ON r.id = s.run_id "
            "WHERE s.to_at >= ? AND r.partition IS ? ORDER BY s.from_at", [since, partition])]

    def runs(self) -> list[dict]:
        """Every collector run (started, last alive, stopped, pid, host), oldest first."""
        return list(self.db.query("SELECT * FROM collector_runs ORDER BY id"))

    def sight_periods(self) -> list[dict]:
        """Every sight period (its run, from, to, whether still open), oldest first."""
        return list(self.db.query("SELECT * FROM sight ORDER BY id"))
