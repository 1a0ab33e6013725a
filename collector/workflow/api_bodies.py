"""Request bodies of the workflow's routes, with the limits the OpenAPI document shows, and
what attachments are checked against on the way in and out."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import date
from typing import Literal
from urllib.parse import quote

from fastapi import HTTPException
from pydantic import BaseModel, ConfigDict, Field, model_validator

from parkwatch.core.ids import ID_PATTERN as ID  # as the collector's routes check a project id

MAX_ATTACHMENT = 5 * 1024 * 1024
Level = Literal["low", "medium", "high"]
# A MIME type as RFC 9110 spells one (type/subtype and parameters): no CR, LF or quotes
# outside a quoted parameter, so it is safe in a Content-Type header.
TOKEN = r"[A-Za-z0-9!#$&^_.+-]+"
MIME = rf"^{TOKEN}/{TOKEN}(?: *; *{TOKEN}=(?:{TOKEN}|\"[^\"\\\x00-\x1f\x7f]*\"))*$"
NO_CONTROL = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"  # and not blank
NONBLANK = r"\S"  # blanks are stripped: some text must remain
EPOCH_MIN, EPOCH_MAX = 946684800.0, 4102444800.0  # 2000-01-01 .. 2100-01-01 UTC
BACKDATE_S = 366 * 86400  # an incident reported by hand opened at most a year ago


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Reporter(Strict):
    name: str = Field(min_length=1, pattern=NONBLANK, max_length=100)
    unit: str | None = Field(None, max_length=200)
    contact: str = Field(min_length=1, pattern=NONBLANK, max_length=200)
    role: str | None = Field(None, max_length=100)


class AttachmentIn(Strict):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra={
        "oneOf": [{"required": [have], "properties": {have: {"type": "string"},
                                                      other: {"type": "null"}}}
                  for have, other in (("data_base64", "url"), ("url", "data_base64"))]})
    name: str = Field(min_length=1, max_length=200, pattern=NO_CONTROL,
                      description="the file's name; no control characters")
    content_type: str | None = Field(None, max_length=100, pattern=MIME,
                                     description="a MIME type, e.g. image/png")
    data_base64: str | None = None
    url: str | None = Field(None, max_length=2000, pattern=r"^https?://[^\s]+$",
                            description="an http(s) link instead of data")

    @model_validator(mode="after")
    def one_source(self):
        if (self.data_base64 is None) == (self.url is None):
            raise ValueError("an attachment has either data_base64 or url")
        return self


class IncidentIn(Strict):
    """An incident reported by hand, with the fields of seed 002's event record."""
    who: str | None = Field(None, min_length=1, pattern=NONBLANK, max_length=100,
                            description="who records it; the signed-in user wins")
    project: str = Field(pattern=ID, description="a project the collector knows (else 404)")
    site: str | None = Field(None, max_length=64)
    device: str | None = Field(None, max_length=64)
    channel: Literal["intercom", "phone", "seat", "email", "other"] = "phone"
    kind: str = Field("unknown", max_length=64)
    reporter: Reporter
    title: str = Field(min_length=1, pattern=NONBLANK, max_length=200)
    description: str = Field(min_length=1, pattern=NONBLANK, max_length=10000)
    contract_scope: str | None = Field(None, max_length=200)
    sla_level: str | None = Field(None, max_length=50)
    impact: Level
    urgency: Level
    severity: int | None = Field(None, ge=1, le=3)
    signature: str | None = Field(None, max_length=200)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=20)
    opened_at: float | None = Field(
        None, ge=EPOCH_MIN, le=EPOCH_MAX, allow_inf_nan=False,
        description="epoch seconds; default now. At most a year before now and at most "
                    "60 s after (else 422)")
    note: str | None = Field(None, max_length=10000)
    dispatch: str | None = Field(None, min_length=1,
                                 description="'auto' (the routing table) or a group")


class ActionIn(Strict):
    # who acts: the signed-in user wins
    who: str | None = Field(None, min_length=1, pattern=NONBLANK, max_length=100)
    note: str | None = Field(None, max_length=10000)
    group: str | None = Field(None, max_length=64)
    plan: str | None = Field(None, max_length=10000)
    plan_date: date | None = None
    report: str | None = Field(None, max_length=100000)


class GroupActionIn(ActionIn):
    group: str = Field(min_length=1, pattern=NONBLANK, max_length=64,
                      description="the group to hand it to")


class PlanActionIn(ActionIn):
    plan: str = Field(min_length=1, pattern=NONBLANK, max_length=10000,
                     description="the solution plan")


class ReportActionIn(ActionIn):
    report: str = Field(min_length=1, pattern=NONBLANK, max_length=100000,
                       description="the fault report")


class ProblemActionIn(Strict):
    # who acts: the signed-in user wins
    who: str | None = Field(None, min_length=1, pattern=NONBLANK, max_length=100)
    plan_date: date | None = None
    note: str | None = Field(None, max_length=10000)


class ConfirmIn(ProblemActionIn):
    plan_date: date = Field(description="when the fix is planned")


# The body each action's operation takes: its required field is in the schema.
ACTION_BODIES: dict[str, type[BaseModel]] = {
    "dispatch": GroupActionIn, "transfer": GroupActionIn, "plan": PlanActionIn,
    "report": ReportActionIn}
PROBLEM_BODIES: dict[str, type[BaseModel]] = {"confirm": ConfirmIn}


def content_type(stored: str | None) -> str:
    """A stored type is sent only if it is a clean MIME type (rows older than the check, or
    written by another path, may hold anything)."""
    if stored and re.fullmatch(MIME, stored):
        return stored
    return "application/octet-stream"


def disposition(name: str) -> str:
    """RFC 6266: a plain-ASCII ``filename`` for old clients and the exact name, UTF-8 and
    percent-encoded, in ``filename*`` (RFC 5987)."""
    plain = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"


def attachment_row(i: int, a: AttachmentIn) -> dict:
    data = None
    if a.data_base64 is not None:
        try:
            data = base64.b64decode(a.data_base64, validate=True)
        except (binascii.Error, ValueError):
            raise HTTPException(422, f"attachments[{i}].data_base64 is not base64") from None
        if len(data) > MAX_ATTACHMENT:
            raise HTTPException(413, f"attachments[{i}] is over {MAX_ATTACHMENT} bytes")
    return {"name": a.name, "content_type": a.content_type, "url": a.url, "data": data,
            "size": 0 if data is None else len(data)}
