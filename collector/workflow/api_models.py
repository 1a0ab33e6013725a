"""What the workflow's routes answer, as response models (see ``collector.web.api_models``)."""

from __future__ import annotations

from typing import Any

from collector.web.api_models import Out


class Assignment(Out):
    id: int
    group: str
    dispatched_at: float
    acked_at: float | None
    arrived_at: float | None
    resolved_at: float | None
    ended_at: float | None
    end_reason: str | None
    reopened: int | bool


class Clock(Out):
    assignment: int
    group: str
    clock: str
    due: float | None
    done_at: float | None
    state: str
    remaining_s: float | None


class AuditLine(Out):
    at: float
    who: str
    action: str
    note: str | None
    from_state: str | None
    to_state: str | None
    group_name: str | None


class Event(Out):
    key: str
    kind: str
    at: float
    audience: list[str]
    detail: Any


class AttachmentMeta(Out):
    id: int
    name: str
    content_type: str | None
    size: int
    url: str | None
    added_at: float


class AttachmentLink(Out):
    name: str
    url: str


class WorkflowIncident(Out):
    """An incident as the board lists it: the record, its assignments and clocks."""
    id: int
    incident_id: int | None
    source: str
    channel: str | None
    project: str
    site: str | None
    device: str | None
    kind: str
    severity: int
    title: str | None
    description: str | None
    opened_at: float
    state: str
    group_name: str | None
    transfers: int
    plan_changes: int
    plan: str | None
    plan_date: str | None
    resolved_at: float | None
    closed_at: float | None
    assessed: bool
    grade: str | None
    actions: list[str]
    assignments: list[Assignment]
    clocks: list[Clock]


class WorkflowIncidentDetail(WorkflowIncident):
    """One incident in full: also its audit trail, events and attachments."""
    audit: list[AuditLine]
    events: list[Event]
    attachments: list[AttachmentMeta]


class Problem(Out):
    id: int
    signature: str
    state: str
    projects: list[str]
    tickets: list[int]
    proposed_at: float
    confirmed_at: float | None
    confirmed_by: str | None
    plan_date: str | None
    solved_at: float | None
    closed_by: str | None
    note: str | None


class Group(Out):
    name: str
    respond_min: float | None
    handle_min: float | None


class OutboxRow(Out):
    id: int
    event_id: int
    route_to: str
    title: str
    state: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    sent_at: float | None


class MonthlyReport(Out):
    month: str
    timezone: str
    generated_at: float
    incidents: int
    groups: list[dict[str, Any]]
