"""Sign-in endpoints and the console's pages (static files: no build step, no CDN)."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from collector.web.api_models import Me, Ok
from collector.web.auth import AuthError, User, dummy_hash
from collector.web.console.bodylimit import BodyLimit
from collector.web.console.deps import SESSION_COOKIE, AuthContext, current_user, optional_user
from collector.web.console.guard import AuthGuard
from collector.web.contract import errors

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("parkwatch.console")


class Login(BaseModel):
    username: str = Field(max_length=200)
    password: str = Field(max_length=1024)


def router() -> APIRouter:
    r = APIRouter()

    @r.post("/api/auth/login", response_model=Me, responses=errors(401, 429))
    def login(body: Login, request: Request, response: Response):
        ctx: AuthContext = request.app.state.auth
        now, address = ctx.clock(), request.client.host if request.client else "unknown"
        wait = ctx.limiter.retry_after(body.username, address, now)
        if wait is not None:  # refused before the password is even checked
            log.warning("sign-in for %r from %s refused: too many failures", body.username,
                        address)
            raise HTTPException(429, f"too many failed sign-ins; try again in {wait} s",
                                headers={"Retry-After": str(wait)})
        users = ctx.users()
        try:
            user = users.authenticate(body.username, body.password)
        except AuthError as e:
            ctx.limiter.failed(body.username, address, now)
            raise HTTPException(401, str(e)) from None
        ctx.limiter.succeeded(body.username, address, now)
        token = users.new_session(user, now)
        response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax",
                            max_age=12 * 3600)
        return user.public()

    @r.post("/api/auth/logout", response_model=Ok)
    def logout(request: Request, response: Response):
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            request.app.state.auth.users().end_session(token)
        response.delete_cookie(SESSION_COOKIE)
        return {"ok": True}

    @r.get("/api/auth/me", response_model=Me, responses=errors(401))
    def me(user: User = Depends(current_user)):
        return user.public()

    shell = (STATIC / "shell.html").read_text(encoding="utf-8")

    def page(name: str):
        html = shell.replace("PAGE", name)  # one shell; each page is its own script

        def serve(user: User | None = Depends(optional_user)):
            if user is None and name != "login":
                return RedirectResponse("/login", status_code=303)
            return HTMLResponse(html)
        return serve

    r.add_api_route("/", lambda: RedirectResponse("/board", status_code=303),
                    include_in_schema=False)
    r.add_api_route("/login", page("login"), include_in_schema=False)
    r.add_api_route("/board", page("board"), include_in_schema=False)
    r.add_api_route("/reports", page("reports"), include_in_schema=False)
    r.add_api_route("/incidents/{incident_id}", page("incident"), include_in_schema=False)
    r.add_api_route("/projects/{project}", page("project"), include_in_schema=False)
    return r


def mount(app: FastAPI, ctx: AuthContext, anonymous_read: bool = False) -> None:
    """Sign-in, pages and static files, the guard in front of the whole API, and the body
    cap in front of everything (added last, so it runs first)."""
    app.state.auth = ctx
    dummy_hash()  # made now, so that not even the first unknown username costs less
    app.include_router(router())
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(AuthGuard, ctx=ctx, anonymous_read=anonymous_read)
    app.add_middleware(BodyLimit)

