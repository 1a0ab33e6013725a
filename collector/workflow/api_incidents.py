"""HTTP for the workflow's incidents: reported by hand, listed, shown, acted on (one operation
per lifecycle action), their attachments, and the groups they go to."""

from __future__ import annotations

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from collector.downtime import marks
from collector.web.console.guard import actor
from collector.web.contract import errors, invalid
from collector.workflow import api_models as m
from collector.workflow import clocks, lifecycle
from collector.workflow.api_bodies import (
    ACTION_BODIES,
    BACKDATE_S,
    ActionIn,
    AttachmentIn,
    IncidentIn,
    attachment_row,
    content_type,
    disposition,
)
from collector.workflow.api_deps import WorkflowDeps, act, workflow
from collector.workflow.config import WorkflowConfig
from collector.workflow.routing import KINDS, device_class, route, severity_of
from collector.workflow.scores import grade
from collector.workflow.store import WorkflowStore

router = APIRouter()


def views(cfg: WorkflowConfig, s: WorkflowStore, tickets, now: float) -> list[dict]:
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


def view(cfg: WorkflowConfig, s: WorkflowStore, tid: int, now: float) -> dict:
    t = s.load(tid)
    if t is None:
        raise HTTPException(404, f"no incident {tid}")
    (out,) = views(cfg, s, [t], now)
    out.update(audit=s.audit(tid), events=s.events(tid), attachments=s.attachments(tid))
    return out


def member_owns(request: Request, ticket) -> None:
    """A group member acts only on an incident its group holds."""
    user = getattr(request.state, "user", None)
    if user is None or user.role != "member" or ticket is None:
        return
    holder = ticket.assignments[-1].group if ticket.assignments else None
    if not user.may_act_on(holder):
        raise HTTPException(403, f"incident {ticket.id} is with {holder or 'no group'}, "
                                 f"not {user.group}")


@router.post("/api/workflow/incidents", status_code=201,
             response_model=m.WorkflowIncidentDetail, responses=errors(404, 413))
def report_incident(body: IncidentIn, request: Request, w: WorkflowDeps = Depends(workflow)):
    cfg = w.cfg
    who = actor(request, body.who)
    now = w.clock()
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
    with w.session() as s:
        try:
            marks.known_project(s.db, body.project)
        except marks.MarkError as e:
            raise HTTPException(e.status, e.message) from None
        tid = act(lambda: s.create(fields, now, who, body.note, files, target))
        return view(cfg, s, tid, now)


@router.get("/api/workflow/incidents", response_model=list[m.WorkflowIncident])
def incidents(state: str | None = Query(None, pattern="^(" + "|".join(
                  lifecycle.STATES) + "|live)$"),
              group: str | None = None, project: str | None = None,
              limit: int = Query(500, ge=1, le=5000), w: WorkflowDeps = Depends(workflow)):
    now = w.clock()
    with w.session() as s:
        return views(w.cfg, s, s.find(state, group, project, limit), now)


@router.get("/api/workflow/incidents/{tid}", response_model=m.WorkflowIncidentDetail,
            responses=errors(404))
def incident(tid: int, w: WorkflowDeps = Depends(workflow)):
    with w.session() as s:
        return view(w.cfg, s, tid, w.clock())


def action(tid: int, action: str, request: Request, body: ActionIn, w: WorkflowDeps):
    who = actor(request, body.who)
    now = w.clock()
    with w.session() as s:
        member_owns(request, s.load(tid))
        act(lambda: s.act(tid, action, now, who, note=body.note, group=body.group,
                          plan=body.plan, report=body.report,
                          plan_date=body.plan_date and body.plan_date.isoformat()))
        return view(w.cfg, s, tid, now)


def incident_action(name: str):
    def one(tid: int, request: Request, body: ActionIn = Body(...),
            w: WorkflowDeps = Depends(workflow)):
        return action(tid, name, request, body, w)
    one.__annotations__["body"] = ACTION_BODIES.get(name, ActionIn)
    return one


for _name in lifecycle.ACTIONS:  # one operation each: the guard's rule differs by action
    router.add_api_route(f"/api/workflow/incidents/{{tid}}/{_name}", incident_action(_name),
                         methods=["POST"],
                         name=f"incident_{_name}", summary=f"Incident: {_name}",
                         response_model=m.WorkflowIncidentDetail,
                         responses=errors(403, 404, 409))


@router.post("/api/workflow/incidents/{tid}/attachments", status_code=201,
             response_model=m.WorkflowIncidentDetail, responses=errors(403, 404, 413))
def add_attachment(tid: int, body: AttachmentIn, request: Request,
                   w: WorkflowDeps = Depends(workflow)):
    who = actor(request, "api")
    now = w.clock()
    with w.session() as s:
        member_owns(request, s.load(tid))
        act(lambda: s.add_attachment(tid, attachment_row(0, body), now, who))
        return view(w.cfg, s, tid, now)


@router.post("/api/workflow/incidents/{tid}/{action}", include_in_schema=False)
def no_action(tid: int, action: str):
    raise HTTPException(404, f"no action {action!r}; actions are "
                             f"{', '.join(lifecycle.ACTIONS)}")


@router.get("/api/workflow/incidents/{tid}/attachments/{aid}",
            response_model=m.AttachmentLink, responses={**errors(404), 200: {
                "description": "The file itself, or its link (JSON) for a linked attachment",
                "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}}})
def attachment(tid: int, aid: int, w: WorkflowDeps = Depends(workflow)):
    with w.session() as s:
        a = s.attachment(tid, aid)
    if a is None:
        raise HTTPException(404, f"incident {tid} has no attachment {aid}")
    if a["data"] is None:
        return {"name": a["name"], "url": a["url"]}
    return Response(a["data"], media_type=content_type(a["content_type"]),
                    headers={"Content-Disposition": disposition(a["name"]),
                             "X-Content-Type-Options": "nosniff"})


@router.get("/api/workflow/groups", response_model=list[m.Group])
def groups(w: WorkflowDeps = Depends(workflow)):
    """The groups incidents can be dispatched or transferred to, with their standards."""
    return [{"name": g.name, "respond_min": g.respond_s and g.respond_s / 60,
             "handle_min": g.handle_s and g.handle_s / 60} for g in w.cfg.groups.values()]
