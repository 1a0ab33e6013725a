"""Request bodies capped before anything reads them (ASGI middleware).

A body over the cap gets 413 with a JSON ``detail`` naming the cap, and the application
never sees the request, so nothing is stored. A declared ``Content-Length`` over the cap is
refused without reading the body; a body sent without one (chunked) is read only up to the
cap. Routes that carry attachments have their own, larger cap: one attachment of
``MAX_ATTACHMENT`` bytes, base64-encoded, with the rest of the incident around it (each
attachment is also checked against ``MAX_ATTACHMENT`` once decoded).
"""

from __future__ import annotations

import json
import math
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from collector.workflow.api_bodies import MAX_ATTACHMENT

MAX_BODY = 1024 * 1024  # every other request: the longest text fields, JSON-escaped, fit
MAX_ATTACHMENT_BODY = 4 * math.ceil(MAX_ATTACHMENT / 3) + MAX_BODY
ATTACHMENT_ROUTES = re.compile(r"/api/workflow/incidents(/\d+/attachments)?/?")


def cap_for(method: str, path: str) -> int:
    if method == "POST" and ATTACHMENT_ROUTES.fullmatch(path):
        return MAX_ATTACHMENT_BODY
    return MAX_BODY


class BodyLimit:
    def __init__(self, app: ASGIApp, cap=cap_for):
        self.app, self.cap = app, cap

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        cap = self.cap(scope["method"], scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                if int(declared) > cap:
                    return await _too_large(send, cap)
            except ValueError:
                pass  # the server refuses a malformed Content-Length before we see it
        body, more = [], True
        size = 0
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away: let the app see the disconnect
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > cap:
                return await _too_large(send, cap)
            body.append(chunk)
            more = message.get("more_body", False)
        else:
            message = {"type": "http.request", "body": b"".join(body), "more_body": False}
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return message
            return await receive()

        await self.app(scope, replay, send)


async def _too_large(send: Send, cap: int) -> None:
    body = json.dumps({"detail": f"request body over {cap} bytes"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
