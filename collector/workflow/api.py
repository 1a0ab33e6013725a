"""HTTP for the workflow: incidents reported by hand, lifecycle actions, common problems,
the outbox, and the monthly report. A thin shell over ``WorkflowStore``; the API's clock is
the only wall clock read, and it is passed down as ``now``."""

from __future__ import annotations

import base64
import binascii
import time
from contextlib import closing
from datetime import date
from typing import Literal

from fastapi import APIRouter, Body, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from collector.console.guard import actor, require_problem_group
from collector.workflow import clocks, lifecycle, report
from collector.workflow.config import WorkflowConfig
from collector.workflow.routing import KINDS, device_class, route, severity_of
from collector.workflow.scores import grade
from collector.workflow.store import WorkflowStore

MAX_ATTACHMENT = 5 * 1024 * 1024
Level = Literal["low", "medium", "high"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Reporter(Strict):
    name: str = Field(min_length=1, max_length=100)
    unit: str | None = Field(None, max_length=200)
    contact: str = Field(min_length=1, max_length=200)
    role: str | None = Field(None, max_length=100)


class AttachmentIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    content_type: str | None = Field(None, max_length=100)
    data_base64: str | None = None
    url: str | None = Field(None, max_length=2000)

    @model_validator(mode="after")
    def one_source(self):
        if (self.data_base64 is None) == (self.url is None):
            raise ValueError("an attachment has either data_base64 or url")
        return self


class IncidentIn(Strict):
    """An incident reported by hand, with the fields of seed 002's event record."""
    who: str | None = Field(None, min_length=1, max_length=100,
                            description="who records it; the signed-in user wins")
    project: str = Field(min_length=1, max_length=64)
    site: str | None = Field(None, max_length=64)
    device: str | None = Field(None, max_length=64)
    channel: Literal["intercom", "phone", "seat", "email", "other"] = "phone"
    kind: str = Field("unknown", max_length=64)
    reporter: Reporter
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(min_length=1, max_length=10000)
    contract_scope: str | None = Field(None, max_length=200)
    sla_level: str | None = Field(None, max_length=50)
    impact: Level
    urgency: Level
    severity: int | None = Field(None, ge=1, le=3)
    signature: str | None = Field(None, max_length=200)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=20)
    opened_at: float | None = None
    note: str | None = Field(None, max_length=10000)
    dispatch: str | None = Field(None, description="'auto' (the routing table) or a group")


class ActionIn(Strict):
    who: str | None = Field(None, min_length=1, max_length=100)  # the signed-in user wins
    note: str | None = Field(None, max_length=10000)
    group: str | None = Field(None, max_length=64)
    plan: str | None = Field(None, max_length=10000)
    plan_date: date | None = None
    report: str | None = Field(None, max_length=100000)


class ProblemActionIn(Strict):
    who: str | None = Field(None, min_length=1, max_length=100)  # the signed-in user wins
    plan_date: date | None = None
    note: str | None = Field(None, max_length=10000)


def build_router(database, cfg: WorkflowConfig, clock=time.time) -> APIRouter:
    r = APIRouter()

    def session():
        """One connection per request, opened and closed in the endpoint's own thread
        (a dependency with ``yield`` may run in another, which SQLite refuses)."""
        return closing(WorkflowStore(database, cfg))

    def views(s: WorkflowStore, tickets, now: float) -> list[dict]:
        """Incidents as the API shows them: the record, its assignments and clocks."""
        ids = [t.id for t in tickets]
        rows, durations = s.rows(ids), s.durations(ids, now)
        return [{**rows[t.id], "assessed": t.assessed, "grade": grade(durations[t.id]),
                 "actions": [a for a in lifecycle.ACTIONS if t.state in lifecycle.ALLOWED[a][0]],
                 "assignments": [{"id": a.id, "group": a.group,
                                  "dispatched_at": a.dispatched_at, "acked_at": a.acked_at,
                                  "arrived_at": a.arrived_at, "resolved_at": a.resolved_at,
                                  "ended_at": a.ended_at, "end_reason": a.end_reason,
                                  "reopened": a.reopened} for a in t.assignments],
                 "clocks": clocks.describe(t, cfg.clock(t.project), now)} for t in tickets]

    def view(s: WorkflowStore, tid: int, now: float) -> dict:
        t = s.load(tid)
        if t is None:
            raise HTTPException(404, f"no incident {tid}")
        (out,) = views(s, [t], now)
        out.update(audit=s.audit(tid), events=s.events(tid), attachments=s.attachments(tid))
        return out

    def act(call):
        try:
            return call()
        except lifecycle.NotFound as e:
            raise HTTPException(404, str(e)) from None
        except lifecycle.Conflict as e:
            raise HTTPException(409, str(e)) from None
        except lifecycle.Invalid as e:
            raise HTTPException(422, str(e)) from None

    @r.post("/api/workflow/incidents", status_code=201)
    def report_incident(body: IncidentIn, request: Request):
        who = actor(request, body.who)
        now = clock()
        opened_at = now if body.opened_at is None else body.opened_at
        if opened_at > now + 60:
            raise HTTPException(422, "opened_at is in the future")
        dev_class = device_class(body.device, cfg.device_classes)
        rule = route(cfg.rules, body.kind, dev_class)
        if body.kind not in KINDS and not any(x.kind == body.kind for x in cfg.rules):
            raise HTTPException(422, f"unknown kind {body.kind!r}; one of {', '.join(KINDS)}")
        target = {None: None, "auto": rule.group}.get(body.dispatch, body.dispatch)
        if target is not None and target not in cfg.groups:
            raise HTTPException(422, f"unknown group {target!r}; known: "
                                f"{', '.join(sorted(cfg.groups))}")
        files = [_attachment(i, a) for i, a in enumerate(body.attachments)]
        fields = {
            "source": "manual", "channel": body.channel, "project": body.project,
            "site": body.site, "device": body.device, "kind": body.kind,
            "device_class": dev_class, "signature": body.signature,
            "severity": body.severity or severity_of(body.impact, body.urgency),
            "title": body.title, "description": body.description,
            "reporter_name": body.reporter.name, "reporter_unit": body.reporter.unit,
            "reporter_contact": body.reporter.contact, "reporter_role": body.reporter.role,
            "contract_scope": body.contract_scope, "sla_level": body.sla_level,
            "impact": body.impact, "urgency": body.urgency, "opened_at": opened_at}
        with session() as s:
            tid = act(lambda: s.create(fields, now, who, body.note, files, target))
            return view(s, tid, now)

    @r.get("/api/workflow/incidents")
    def incidents(state: str | None = Query(None, pattern="^(" + "|".join(
                      lifecycle.STATES) + "|live)$"),
                  group: str | None = None, project: str | None = None,
                  limit: int = Query(500, ge=1, le=5000)):
        where, params = ["1"], []
        if state == "live":
            where.append("state != 'closed'")
        elif state:
            where.append("state = ?")
            params.append(state)
        for col, value in (("group_name", group), ("project", project)):
            if value:
                where.append(f"{col} = ?")
                params.append(value)
        now = clock()
        with session() as s:
            return views(s, s.tickets(" AND ".join(where), params, limit=limit), now)

    @r.get("/api/workflow/incidents/{tid}")
    def incident(tid: int):
        with session() as s:
            return view(s, tid, clock())

    @r.post("/api/workflow/incidents/{tid}/{action}")
    def action(tid: int, action: str, request: Request, body: ActionIn = Body(...)):
        if action not in lifecycle.ACTIONS:
            raise HTTPException(404, f"no action {action!r}; actions are "
                                f"{', '.join(lifecycle.ACTIONS)}")
        who = actor(request, body.who)
        now = clock()
        with session() as s:
            _member_owns(request, s.load(tid))
            act(lambda: s.act(tid, action, now, who, note=body.note, group=body.group,
                              plan=body.plan, report=body.report,
                              plan_date=body.plan_date and body.plan_date.isoformat()))
            return view(s, tid, now)

    @r.post("/api/workflow/incidents/{tid}/attachments", status_code=201)
    def add_attachment(tid: int, body: AttachmentIn, request: Request):
        who = actor(request, "api")
        now = clock()
        with session() as s:
            _member_owns(request, s.load(tid))
            act(lambda: s.add_attachment(tid, _attachment(0, body), now, who))
            return view(s, tid, now)

    @r.get("/api/workflow/incidents/{tid}/attachments/{aid}")
    def attachment(tid: int, aid: int):
        with session() as s:
            a = s.attachment(tid, aid)
        if a is None:
            raise HTTPException(404, f"incident {tid} has no attachment {aid}")
        if a["data"] is None:
            return {"name": a["name"], "url": a["url"]}
        return Response(a["data"], media_type=a["content_type"] or "application/octet-stream",
                        headers={"Content-Disposition": f'attachment; filename="{a["name"]}"'})

    @r.get("/api/workflow/groups")
    def groups():
        """The groups incidents can be dispatched or transferred to, with their standards."""
        return [{"name": g.name, "respond_min": g.respond_s and g.respond_s / 60,
                 "handle_min": g.handle_s and g.handle_s / 60} for g in cfg.groups.values()]

    @r.get("/api/workflow/problems")
    def problems(state: str | None = Query(None, pattern="^(proposed|confirmed|solved|"
                                                          "rejected)$")):
        with session() as s:
            return s.problems(state)

    @r.post("/api/workflow/problems/{pid}/{action}")
    def problem_action(pid: int, action: str, body: ProblemActionIn, request: Request):
        require_problem_group(request, cfg.problem_group)
        who = actor(request, body.who)
        with session() as s:
            return act(lambda: s.problem_action(
                pid, action, clock(), who, note=body.note,
                plan_date=body.plan_date and body.plan_date.isoformat()))

    @r.get("/api/workflow/outbox")
    def outbox(state: str | None = Query(None, pattern="^(pending|sending|sent)$")):
        with session() as s:
            return s.outbox(state)

    @r.get("/api/reports/monthly")
    def monthly(month: str = Query(..., pattern=r"^\d{4}-\d{2}$"),
                format: Literal["json", "csv"] = "json"):
        try:
            with session() as s:
                rep = report.monthly_report(s, month, clock())
        except ValueError as e:
            raise HTTPException(422, str(e)) from None
        if format == "csv":
            return PlainTextResponse(report.to_csv(rep), media_type="text/csv")
        return rep

    return r


def _member_owns(request: Request, ticket) -> None:
    """A group member acts only on an incident its group holds."""
    user = getattr(request.state, "user", None)
    if user is None or user.role != "member" or ticket is None:
        return
    holder = ticket.assignments[-1].group if ticket.assignments else None
    if not user.may_act_on(holder):
        raise HTTPException(403, f"incident {ticket.id} is with {holder or 'no group'}, "
                                 f"not {user.group}")


def _attachment(i: int, a: AttachmentIn) -> dict:
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


def router_for(collector_cfg) -> APIRouter:
    """The router for the collector's app, on its database and ``[workflow]`` table."""
    return build_router(collector_cfg.database, collector_cfg.workflow)
