"""FastAPI dependencies: who is calling, and may they do this."""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import Depends, HTTPException, Request

from collector.auth import User, Users

SESSION_COOKIE = "pw_session"


class AuthContext:
    """What the dependencies need: a way to open the users table, and the clock."""

    def __init__(self, open_db: Callable, clock: Callable[[], float] = time.time):
        self.open_db = open_db
        self.clock = clock

    def users(self) -> Users:
        return Users(self.open_db())


def optional_user(request: Request) -> User | None:
    ctx: AuthContext = request.app.state.auth
    users = ctx.users()
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        user = users.by_api_token(header[7:].strip())
        if user is None:
            raise HTTPException(401, "invalid bearer token")
        return user
    token = request.cookies.get(SESSION_COOKIE)
    return users.by_session(token, ctx.clock()) if token else None


def current_user(user: User | None = Depends(optional_user)) -> User:
    if user is None:
        raise HTTPException(401, "sign in first (session cookie or bearer token)")
    return user


def require(permission: str):
    """A dependency that returns the user when their role allows ``permission``."""

    def check(user: User = Depends(current_user)) -> User:
        if not user.can(permission):
            raise HTTPException(403, f"a {user.role} may not {permission.replace('.', ' ')}")
        return user

    return check
