"""FastAPI dependencies: who is calling (resolved once by ``guard.AuthGuard``)."""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import Depends, HTTPException, Request

from collector.web.auth import User, Users
from collector.web.console.ratelimit import LoginLimiter
from parkwatch.core.clock import Clock

SESSION_COOKIE = "pw_session"


class AuthContext:
    """What the guard and sign-in need: a way to open the users table, the clock, and the
    login failure counts (this process's memory)."""

    def __init__(self, open_db: Callable, clock: Clock = time.time,
                 limiter: LoginLimiter | None = None):
        self.open_db = open_db
        self.clock = clock
        self.limiter = limiter or LoginLimiter()

    def users(self) -> Users:
        return Users(self.open_db())


def optional_user(request: Request) -> User | None:
    return getattr(request.state, "user", None)


def current_user(user: User | None = Depends(optional_user)) -> User:
    if user is None:
        raise HTTPException(401, "sign in first (session cookie or bearer token)")
    return user
