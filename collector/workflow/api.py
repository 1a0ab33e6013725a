"""HTTP for the workflow: incidents reported by hand, lifecycle actions, common problems,
the outbox, and the monthly report. A thin shell over ``WorkflowStore``; the API's clock is
the only wall clock read, and it is passed down as ``now``."""

from __future__ import annotations

import time
from contextlib import closing
from typing import Literal

from fastapi import APIRouter, Body, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse, Response

from collector.downtime import marks
from collector.web.console.guard import actor, require_problem_group
from collector.web.contract import errors, invalid
from collector.workflow import api_models as m
from collector.workflow import clocks, lifecycle, report
from collector.workflow.api_bodies import (
    ACTION_BODIES,
    BACKDATE_S,
    PROBLEM_BODIES,
    ActionIn,
    AttachmentIn,
    IncidentIn,
    ProblemActionIn,
    attachment_row,
    content_type,
    disposition,
)
from collector.workflow.config import WorkflowConfig
from collector.workflow.routing import KINDS, device_class, route, severity_of
from collector.workflow.scores import grade
from collector.workflow.store import WorkflowStore
from parkwatch.core.clock import Clock


def build_router(database, cfg: WorkflowConfig, clock: Clock = time.time) -> APIRouter:
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

    @r.post("/api/workflow/incidents", status_code=201, response_model=m.WorkflowIncidentDetail,
            responses=errors(404, 413))
    def report_incident(body: IncidentIn, request: Request):
        who = actor(request, body.who)
        now = clock()
        opened_at = now if body.opened_at is None else body.opened_at
        if opened_at > now + 60:
            raise invalid("opened_at is in the future", "opened_at")
        if opened_at < now - BACKDATE_S:
            raise invalid("opened_at is more than a year ago", "opened_at")
        dev_class = device_class(body.device, cfg.device_classes)
        rule = route(cfg.rules, body.kind, dev_class)
        if body.kind not in KINDS and not any(x.kind == body.kind for x in cfg.rules):
            raise invalid(f"unknown kind {body.kind!r}; one of {', '.join(KINDS)}", "kind")
        target = {None: None, "auto": rule.group}.get(body.dispatch, body.dispatch)
        if target is not None and target not in cfg.groups:
            raise invalid(f"unknown group {target!r}; known: "
                          f"{', '.join(sorted(cfg.groups))}", "dispatch")
        files = [attachment_row(i, a) for i, a in enumerate(body.attachments)]
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
            try:
                marks.known_project(s.db, body.project)
            except marks.MarkError as e:
                raise HTTPException(e.status, e.message) from None
            tid = act(lambda: s.create(fields, now, who, body.note, files, target))
            return view(s, tid, now)

    @r.get("/api/workflow/incidents", response_model=list[m.WorkflowIncident])
    def incidents(state: str | None = Query(None, pattern="^(" + "|".join(
                      lifecycle.STATES) + "|live)$"),
                  group: str | None = None, project: str | None = None,
                  limit: int = Query(500, ge=1, le=5000)):
        now = clock()
        with session() as s:
            return views(s, s.find(state, group, project, limit), now)

    @r.get("/api/workflow/incidents/{tid}", response_model=m.WorkflowIncidentDetail,
           responses=errors(404))
    def incident(tid: int):
        with session() as s:
            return view(s, tid, clock())

    def action(tid: int, action: str, request: Request, body: ActionIn):
        who = actor(request, body.who)
        now = clock()
        with session() as s:
            _member_owns(request, s.load(tid))
            act(lambda: s.act(tid, action, now, who, note=body.note, group=body.group,
                              plan=body.plan, report=body.report,
                              plan_date=body.plan_date and body.plan_date.isoformat()))
            return view(s, tid, now)

    def incident_action(name: str):
        def one(tid: int, request: Request, body: ActionIn = Body(...)):
            return action(tid, name, request, body)
        one.__annotations__["body"] = ACTION_BODIES.get(name, ActionIn)
        return one

    for name in lifecycle.ACTIONS:  # one operation each: the guard's rule differs by action
        r.add_api_route(f"/api/workflow/incidents/{{tid}}/{name}", incident_action(name),
                        methods=["POST"],
                        name=f"incident_{name}", summary=f"Incident: {name}",
                        response_model=m.WorkflowIncidentDetail,
                        responses=errors(403, 404, 409))

    @r.post("/api/workflow/incidents/{tid}/attachments", status_code=201,
            response_model=m.WorkflowIncidentDetail, responses=errors(403, 404, 413))
    def add_attachment(tid: int, body: AttachmentIn, request: Request):
        who = actor(request, "api")
        now = clock()
        with session() as s:
            _member_owns(request, s.load(tid))
            act(lambda: s.add_attachment(tid, attachment_row(0, body), now, who))
            return view(s, tid, now)

    @r.post("/api/workflow/incidents/{tid}/{action}", include_in_schema=False)
    def no_action(tid: int, action: str):
        raise HTTPException(404, f"no action {action!r}; actions are "
                                 f"{', '.join(lifecycle.ACTIONS)}")

    @r.get("/api/workflow/incidents/{tid}/attachments/{aid}", response_model=m.AttachmentLink,
           responses={**errors(404), 200: {
               "description": "The file itself, or its link (JSON) for a linked attachment",
               "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}}})
    def attachment(tid: int, aid: int):
        with session() as s:
            a = s.attachment(tid, aid)
        if a is None:
            raise HTTPException(404, f"incident {tid} has no attachment {aid}")
        if a["data"] is None:
            return {"name": a["name"], "url": a["url"]}
        return Response(a["data"], media_type=content_type(a["content_type"]),
                        headers={"Content-Disposition": disposition(a["name"]),
                                 "X-Content-Type-Options": "nosniff"})

    @r.get("/api/workflow/groups", response_model=list[m.Group])
    def groups():
        """The groups incidents can be dispatched or transferred to, with their standards."""
        return [{"name": g.name, "respond_min": g.respond_s and g.respond_s / 60,
                 "handle_min": g.handle_s and g.handle_s / 60} for g in cfg.groups.values()]

    @r.get("/api/workflow/problems", response_model=list[m.Problem])
    def problems(state: str | None = Query(None, pattern="^(proposed|confirmed|solved|"
                                                          "rejected)$")):
        with session() as s:
            return s.problems(state)

    def problem_action(pid: int, action: str, body: ProblemActionIn, request: Request):
        require_problem_group(request, cfg.problem_group)
        who = actor(request, body.who)
        with session() as s:
            return act(lambda: s.problem_action(
                pid, action, clock(), who, note=body.note,
                plan_date=body.plan_date and body.plan_date.isoformat()))

    def problem_route(name: str):
        def one(pid: int, body: ProblemActionIn, request: Request):
            return problem_action(pid, name, body, request)
        one.__annotations__["body"] = PROBLEM_BODIES.get(name, ProblemActionIn)
        return one

    for name in WorkflowStore.PROBLEM_ACTIONS:
        r.add_api_route(f"/api/workflow/problems/{{pid}}/{name}", problem_route(name),
                        methods=["POST"], name=f"problem_{name}",
                        summary=f"Common problem: {name}", response_model=m.Problem,
                        responses=errors(403, 404, 409))

    @r.post("/api/workflow/problems/{pid}/{action}", include_in_schema=False)
    def no_problem_action(pid: int, action: str):
        raise HTTPException(422, f"unknown action {action!r}; one of "
                                 f"{', '.join(WorkflowStore.PROBLEM_ACTIONS)}")

    @r.get("/api/workflow/outbox", response_model=list[m.OutboxRow])
    def outbox(state: str | None = Query(None, pattern="^(pending|sending|sent)$")):
        with session() as s:
            return s.outbox(state)

    @r.get("/api/reports/monthly", response_model=m.MonthlyReport, responses={200: {
        "description": "The month's scores (JSON), or as CSV with format=csv",
        "content": {"text/csv": {"schema": {"type": "string"}}}}})
    def monthly(month: str = Query(..., pattern=r"^20\d{2}-(0[1-9]|1[0-2])$",
                            description="YYYY-MM, 2000-01 to 2099-12"),
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


def router_for(collector_cfg, clock=time.time) -> APIRouter:
    """The router for the collector's app, on its database and ``[workflow]`` table, on the
    collector's clock."""
    return build_router(collector_cfg.database, collector_cfg.workflow, clock)
