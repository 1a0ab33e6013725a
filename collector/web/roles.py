"""Roles, what each may do, and the ``User`` who holds one: what every check of the
collector's HTTP side asks. No I/O; ``collector.web.auth`` finds the user, this says what
the user may do."""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("seat", "member", "manager", "admin")
ROLE_NAMES = {"seat": "seat agent", "member": "group member", "manager": "manager",
              "admin": "admin"}

# What each role may do. A member acts only on incidents of its own group (checked by the
# caller with ``User.may_act_on``); common problems only as a member of the workflow's
# ``common_problem_group`` (``User.may_decide_problems``).
PERMISSIONS: dict[str, frozenset[str]] = {
    "view": frozenset(ROLES),
    "incident.create": frozenset({"seat", "admin"}),
    "incident.dispatch": frozenset({"seat", "admin"}),
    "incident.act": frozenset({"seat", "member", "admin"}),
    "incident.verify": frozenset({"seat", "admin"}),
    "incident.close": frozenset({"seat", "admin"}),
    "problem.decide": frozenset({"member", "admin"}),
    "outage.mark": frozenset({"seat", "manager", "admin"}),
    "maintenance.manage": frozenset({"admin"}),
    "reports.view": frozenset({"manager", "admin", "seat"}),
    "users.manage": frozenset({"admin"}),
    "routing.manage": frozenset({"admin"}),
}


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: str
    group: str | None = None
    display_name: str | None = None

    def can(self, permission: str) -> bool:
        return self.role in PERMISSIONS.get(permission, frozenset())

    def may_act_on(self, group: str | None) -> bool:
        """Members act on their own group's incidents; seat agents and admins on all."""
        if self.role == "member":
            return group is not None and group == self.group
        return self.can("incident.act")

    def may_decide_problems(self, problem_group: str) -> bool:
        """Common problems are confirmed, solved or rejected by the group that owns them
        (the technical liaison) and by admins; not by seat agents or other groups."""
        if self.role == "member":
            return self.group == problem_group
        return self.can("problem.decide")

    def public(self) -> dict:
        return {"username": self.username, "role": self.role, "group": self.group,
                "display_name": self.display_name or self.username,
                "permissions": sorted(p for p in PERMISSIONS if self.can(p))}
