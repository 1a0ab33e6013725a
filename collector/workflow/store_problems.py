"""Common problems: the sightings they are proposed from, and their own lifecycle.

Part of ``WorkflowStore`` (collector/workflow/store.py).
"""

from __future__ import annotations

import json

from collector.workflow import lifecycle
from collector.workflow.lifecycle import Event
from collector.workflow.problems import Proposal, Sighting
from collector.workflow.store_base import StoreBase
from parkwatch.core.ids import storable


class ProblemTables(StoreBase):
    def sightings(self, since: float) -> list[Sighting]:
        return [Sighting(r["id"], r["project"], r["signature"], r["opened_at"])
                for r in self.db.query("SELECT id, project, signature, opened_at FROM "
                                       "wf_tickets WHERE signature IS NOT NULL AND "
                                       "opened_at > ?", [since])]

    def problem_memory(self) -> tuple[set[str], dict[str, float]]:
        """Signatures with a live problem, and when the others' last problem ended."""
        live, ended = set(), {}
        for r in self.db.query("SELECT signature, state, solved_at FROM wf_problems"):
            if r["state"] in ("proposed", "confirmed"):
                live.add(r["signature"])
            elif r["solved_at"] is not None:
                ended[r["signature"]] = max(ended.get(r["signature"], r["solved_at"]),
                                            r["solved_at"])
        return live, ended

    def add_problem(self, p: Proposal, now: float) -> int:
        with self.transaction():
            pid = self._insert("wf_problems", {
                "signature": p.signature, "state": "proposed", "projects":
                json.dumps(list(p.projects)), "tickets": json.dumps(list(p.tickets)),
                "proposed_at": now})
            self._record([Event("problem", f"problem:{pid}", now, (self.cfg.problem_group,),
                                None, {"problem": pid, "signature": p.signature,
                                       "projects": list(p.projects)})], now)
            return pid

    PROBLEM_ACTIONS = {"confirm": ("proposed", "confirmed"), "solve": ("confirmed", "solved"),
                       "reject": ("proposed", "rejected")}

    def problem_action(self, pid: int, action: str, now: float, who: str,
                       plan_date: str | None = None, note: str | None = None) -> dict:
        if action not in self.PROBLEM_ACTIONS:
            raise lifecycle.Invalid(f"unknown action {action!r}; one of "
                                    f"{', '.join(self.PROBLEM_ACTIONS)}")
        if not who or not who.strip():
            raise lifecycle.Invalid("'who' is required")
        if action == "confirm" and not plan_date:
            raise lifecycle.Invalid("'plan_date' is required to confirm a common problem")
        allowed, to = self.PROBLEM_ACTIONS[action]
        with self.transaction():
            row = self.problem(pid)
            if row is None:
                raise lifecycle.NotFound(f"no common problem {pid}")
            if row["state"] != allowed:
                raise lifecycle.Conflict(f"cannot {action} common problem {pid}: it is "
                                         f"{row['state']} (allowed from: {allowed})")
            change = {"state": to, "note": note or row["note"]}
            if action == "confirm":
                change.update(confirmed_at=now, confirmed_by=who, plan_date=plan_date)
            else:
                change.update(solved_at=now, closed_by=who)
            self.db.execute(f"UPDATE wf_problems SET {', '.join(f'{k} = ?' for k in change)} "
                            "WHERE id = ?", [*change.values(), pid])
        return self.problem(pid)

    def problem(self, pid: int) -> dict | None:
        if not storable(pid):
            return None
        row = next(iter(self.db.query("SELECT * FROM wf_problems WHERE id = ?", [pid])), None)
        return None if row is None else _problem(row)

    def problems(self, state: str | None = None) -> list[dict]:
        sql, params = "SELECT * FROM wf_problems", []
        if state:
            sql, params = sql + " WHERE state = ?", [state]
        return [_problem(r) for r in self.db.query(sql + " ORDER BY id", params)]


def _problem(row: dict) -> dict:
    return {**row, "projects": json.loads(row["projects"]), "tickets": json.loads(row["tickets"])}
