"""Who may call what: one table of rules, checked for every API request before it runs.

Rules are data (method, path pattern, permission), so the whole access policy reads in one
place and docs/console.md can list it. The signed-in user is left on ``request.state.user``
for endpoints that record who acted.
"""

from __future__ import annotations

import re

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from collector.storage_guard import is_storage_error
from collector.web.auth import ROLE_NAMES, User
from collector.web.console.deps import SESSION_COOKIE, AuthContext

OPEN = None  # no sign-in needed
NO_ONE = ("/healthz", "/static/")  # asked without looking up who is calling

# First match wins. ``view`` on reads can be waived by [api] anonymous_read.
RULES: list[tuple[str, str, str | None]] = [
    ("POST", r"/api/auth/(login|logout)", OPEN),
    ("GET", r"/api/reports/.*", "reports.view"),
    ("POST", r"/api/workflow/incidents", "incident.create"),
    ("POST", r"/api/workflow/incidents/\d+/(dispatch)", "incident.dispatch"),
    ("POST", r"/api/workflow/incidents/\d+/(verify|reopen|close)", "incident.verify"),
    ("POST", r"/api/workflow/incidents/\d+/\w+", "incident.act"),
    ("POST", r"/api/workflow/problems/\d+/\w+", "problem.decide"),
    ("POST", r"/api/outages/\d+/exclusion", "outage.mark"),
    ("POST", r"/api/exclusions/\d+/revoke", "outage.mark"),
    ("POST", r"/api/projects/[^/]+/maintenance", "maintenance.manage"),
    ("POST", r"/api/maintenance/\d+/revoke", "maintenance.manage"),
    ("*", r"/api/fleet/.*", "users.manage"),  # the registry says who has broker accounts
    ("GET", r"/api/.*", "view"),
    ("*", r"/api/.*", "users.manage"),  # anything else that writes: admins only
]
DOES = {"problem.decide": "confirm, solve or reject common problems"}
_COMPILED = [(m, re.compile(p + r"/?"), perm) for m, p, perm in RULES]


def permission_for(method: str, path: str) -> str | None:
    """The permission a request needs; None when it needs none (or is not API)."""
    if not path.startswith("/api/"):
        return OPEN
    for m, pattern, perm in _COMPILED:
        if (m == "*" or m == method or (m == "GET" and method == "HEAD")) and \
                pattern.fullmatch(path):
            return perm
    return "users.manage"


class AuthGuard:
    """ASGI middleware: resolve the caller, then refuse what their role may not do."""

    def __init__(self, app: ASGIApp, ctx: AuthContext, anonymous_read: bool = False):
        self.app, self.ctx, self.anonymous_read = app, ctx, anonymous_read

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        needed = permission_for(request.method, request.url.path)
        free = needed is OPEN or (needed == "view" and self.anonymous_read)
        user = None
        if not request.url.path.startswith(NO_ONE):
            try:
                user = await anyio.to_thread.run_sync(self._resolve, request)
            except Exception as e:
                if not is_storage_error(e):
                    raise
                # the users' table is out of reach (the database restarting): an API call
                # that needs no one goes on as no one; one that does (or a console page,
                # which shows the signed-in user's) cannot be checked
                if not (free and request.url.path.startswith("/api/")):
                    return await JSONResponse(
                        {"detail": "the database is unavailable, so who is calling cannot "
                                   "be checked: try again shortly"}, 503,
                        headers={"Retry-After": "5"})(scope, receive, send)
        scope.setdefault("state", {})["user"] = user if isinstance(user, User) else None
        if not free:
            problem = None
            if user == "bad-token":
                problem = (401, "invalid bearer token (unknown, expired or revoked, or its "
                                "user is disabled)")
            elif user is None:
                problem = (401, "sign in first (session cookie or bearer token)")
            elif not user.can(needed):
                what = DOES.get(needed, needed.replace(".", " "))
                problem = (403, f"a {ROLE_NAMES[user.role]} may not {what}")
            if problem:
                return await JSONResponse({"detail": problem[1]}, problem[0])(scope, receive,
                                                                               send)
        await self.app(scope, receive, send)

    def _resolve(self, request: Request) -> User | str | None:
        header = request.headers.get("authorization", "")
        token = request.cookies.get(SESSION_COOKIE)
        bearer = header.lower().startswith("bearer ")
        if not bearer and not token:
            return None  # no one to look up
        users = self.ctx.users()
        if bearer:
            return users.by_api_token(header[7:].strip(), self.ctx.clock()) or "bad-token"
        return users.by_session(token, self.ctx.clock())


def actor(request: Request, named: str | None) -> str:
    """Who acted: the signed-in user; a name in the body counts only without one (a bare
    router in tests, or a trusted local script)."""
    user = getattr(request.state, "user", None)
    if user is not None:
        return user.username
    if not named:
        from fastapi import HTTPException

        raise HTTPException(422, "say who acts: sign in, or give 'who'/'by'")
    return named


def require_problem_group(request: Request, problem_group: str) -> None:
    """Common problems are decided by the group that owns them (``common_problem_group``,
    the technical liaison) and by admins: a seat agent or another group's member gets 403.
    A request without a user (a bare router in tests) is not checked here."""
    user = getattr(request.state, "user", None)
    if user is not None and not user.may_decide_problems(problem_group):
        from fastapi import HTTPException

        who = f"a member of {user.group}" if user.role == "member" else \
            f"a {ROLE_NAMES[user.role]}"
        raise HTTPException(403, f"common problems are decided by {problem_group}; "
                                 f"{who} may not")
