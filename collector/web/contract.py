"""The API's contract: one error shape per status, who may call what, and an OpenAPI document
that says both.

- Every refusal is JSON ``{"detail": "..."}`` (schema ``Error``), except 422, which always has
  FastAPI's ``HTTPValidationError`` shape: ``{"detail": [{"loc", "msg", "type"}]}``; a 422
  raised by hand with a plain message is reshaped by ``install``, and a NaN or infinity
  echoed from the request is sent as text (it is not JSON).
- Security (bearer token, session cookie), 401 and 403 are written into each operation from
  the guard's own rule table (``collector.web.console.guard.permission_for``), so the document
  cannot drift from what the guard enforces.
- A method a path does not serve answers 405 with ``Allow`` listing every method it does
  serve (the router alone names only the first route's), and ``OPTIONS`` answers 204 with
  the same list; both before the guard.
"""

from __future__ import annotations

import functools
import math
import re

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from collector.web.auth import PERMISSIONS, ROLES
from collector.web.console.deps import SESSION_COOKIE
from collector.web.console.guard import OPEN, permission_for


class Error(BaseModel):
    """A refusal: what was wrong, in words."""
    detail: str


WHY = {
    400: "The body is not JSON (or not UTF-8).",
    401: "No signed-in user: no or an unknown bearer token, or no live session cookie.",
    403: "The signed-in user's role (or group) may not do this.",
    404: "No such record (an id outside SQLite's 64-bit range names none either).",
    409: "Not allowed in the record's current state; nothing was changed.",
    413: "Too large.",
    429: "Too many attempts; Retry-After says when to try again.",
}
SECURITY_SCHEMES = {
    "bearerToken": {"type": "http", "scheme": "bearer",
                    "description": "An API token made by `parkwatch user token` (pwt_...)."},
    "sessionCookie": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE,
                      "description": "The console's session, set by POST /api/auth/login."},
}
SIGNED_IN = [{"bearerToken": []}, {"sessionCookie": []}]
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
PROBE = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def errors(*statuses: int) -> dict:
    """``responses=`` for a route that answers these error statuses."""
    return {s: {"model": Error, "description": WHY[s]} for s in statuses}


def validation_error(message: str, loc: tuple = ("body",)) -> dict:
    return {"detail": [{"loc": list(loc), "msg": message, "type": "value_error"}]}


def invalid(message: str, *loc: str | int) -> HTTPException:
    """A 422 raised by hand that names its field: ``raise invalid("...", "opened_at")``."""
    return HTTPException(422, validation_error(message, ("body", *loc))["detail"])


async def _http_error(request: Request, exc: StarletteHTTPException):
    if exc.status_code == 422 and isinstance(exc.detail, str):
        return JSONResponse(validation_error(exc.detail), 422, headers=exc.headers)
    return await http_exception_handler(request, exc)


def _json_safe(value):
    """NaN and infinities (which Python's JSON reader accepts) echoed back as text."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


async def _invalid_request(request: Request, exc: RequestValidationError):
    return JSONResponse({"detail": _json_safe(jsonable_encoder(exc.errors()))}, 422)


def install(app: FastAPI, anonymous_read: bool = False) -> None:
    """Reshape hand-raised 422s, answer OPTIONS truthfully, and make ``app.openapi()`` true.
    Call after every route is added (the document and ``Allow`` are built from them)."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_middleware(AllowedMethods, app_routes=app.router.routes)

    def openapi() -> dict:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, routes=app.routes,
                              description=app.description)
            app.openapi_schema = document(doc, anonymous_read)
        return app.openapi_schema

    app.openapi = openapi


def _sample(path: str, op: dict) -> str:
    """A concrete path for the guard's patterns: an integer parameter becomes 1."""
    types = {p["name"]: p.get("schema", {}).get("type") for p in op.get("parameters", [])
             if p.get("in") == "path"}
    return re.sub(r"\{(\w+)\}", lambda m: "1" if types.get(m[1]) == "integer" else "x", path)


def document(doc: dict, anonymous_read: bool) -> dict:
    doc.setdefault("components", {}).setdefault("schemas", {})["Error"] = \
        Error.model_json_schema()
    doc["components"]["securitySchemes"] = SECURITY_SCHEMES
    ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    for path, ops in doc.get("paths", {}).items():
        for method, op in ops.items():
            if method not in METHODS:
                continue
            responses = op.setdefault("responses", {})
            needed = permission_for(method.upper(), _sample(path, op))
            if needed is OPEN:
                op["security"] = []
            elif needed == "view" and anonymous_read:
                op["security"] = [*SIGNED_IN, {}]
            else:
                op["security"] = SIGNED_IN
                responses.setdefault("401", {"description": WHY[401], **ref})
                if set(PERMISSIONS.get(needed, ())) != set(ROLES):
                    responses.setdefault("403", {"description": WHY[403], **ref})
            if "requestBody" in op:
                responses.setdefault("400", {"description": WHY[400], **ref})
                # Every body is capped (collector/web/console/bodylimit.py).
                responses.setdefault("413", {"description": WHY[413], **ref})
    return doc


class AllowedMethods:
    """A method no route of the path serves answers 405 naming every method the path does
    serve (the router alone names only its first route's); ``OPTIONS`` answers 204 with
    the same ``Allow``. Answered before the guard: a wrong method needs no sign-in to be
    refused, and says nothing the public OpenAPI document does not."""

    def __init__(self, app: ASGIApp, app_routes: list):
        self.app, self.routes = app, app_routes
        self.allowed = functools.lru_cache(maxsize=4096)(self._allowed)

    def _allowed(self, path: str) -> tuple[str, ...]:
        """The methods some route fully matches at this path, asked of the routes themselves
        (included routers too)."""
        scope = {"type": "http", "path": path, "root_path": "", "headers": []}
        methods = [m for m in PROBE if any(
            route.matches({**scope, "method": m})[0] == Match.FULL for route in self.routes
            if not isinstance(route, Mount))]
        return (*methods, "OPTIONS") if methods else ()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        allowed = self.allowed(scope["path"])
        if allowed and scope["method"] not in allowed:  # before the guard: nothing to sign for
            return await JSONResponse({"detail": "Method Not Allowed"}, 405, headers={
                "Allow": ", ".join(allowed)})(scope, receive, send)
        if allowed and scope["method"] == "OPTIONS":
            return await Response(status_code=204, headers={"Allow": ", ".join(allowed)})(
                scope, receive, send)
        await self.app(scope, receive, send)
