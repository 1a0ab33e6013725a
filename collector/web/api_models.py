"""What the main API routes answer, as response models: the OpenAPI document's schemas.

Times are epoch seconds (float). Each model lists the fields clients may rely on; a row may
carry more (``extra="allow"``), which is passed through rather than dropped.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class Health(Out):
    ok: bool
    mqtt_connected: bool
    received: int
    duplicates: int
    rejected: int
    rejected_by_reason: dict[str, int]
    backlog: int  # messages received, not handled yet (a site's heartbeats count once)
    lag_s: float  # now minus the receive time of the oldest message not handled yet
    max_lag_s: float
    behind: bool  # behind by more than the bound: unknown time (docs/architecture.md)
    times_behind: int
    unread_bytes: int  # waiting in the broker connection's socket
    shed_heartbeats: int  # replaced by a later one of their site before being handled
    run: int | None
    # partitioned (docs/scale.md): the partitions whose leases this collector holds; None
    # for a collector of the whole fleet
    partitions: list[int] | None = None


class Device(Out):
    device: str
    state: str
    fault: str | None
    since: float | None


class Site(Out):
    project: str
    site: str
    state: str
    last_seen: float | None
    boot: int | None
    clock_offset_s: float | None
    devices: list[Device]


class Incident(Out):
    """An incident the collector declared from an outage."""
    id: int
    outage_id: int
    project: str | None
    site: str | None
    device: str | None
    kind: str
    opened_at: float
    declared_at: float | None
    closed_at: float | None
    duration_s: float | None
    state: str
    grade: str | None
    withdrawn_at: float | None


class Outage(Out):
    id: int
    kind: str
    project: str | None
    site: str | None
    device: str | None
    fault: str | None
    started_at: float
    detected_at: float | None
    ended_at: float | None
    incident_id: int | None
    declared_at: float | None
    start_source: str | None
    end_source: str | None
    absorbed_by: int | None
    platform_id: int | None


class Project(Out):
    project: str
    timezone: str
    budget_minutes: float
    threshold_s: float


class BudgetOutage(Out):
    id: int
    site: str
    started_at: float
    ended_at: float | None
    customer: bool
    charged_minutes: float


class Forecast(Out):
    projected_year_end_minutes: float | None
    runs_out_on: str | None


class Budget(Out):
    project: str
    year: int
    budget_minutes: float
    down_minutes: float
    remaining_minutes: float
    excluded_minutes: float
    alerts_over_threshold: int
    longest_restore_minutes: float | None
    restores_over_target: int
    availability_window_pct: float | None
    availability_24x7_pct: float | None
    forecast: Forecast
    outages: list[BudgetOutage]


class Exclusion(Out):
    id: int
    outage_id: int
    cause: str
    reason: str
    created_by: str
    created_at: float
    revoked_at: float | None
    revoked_by: str | None
    revoke_reason: str | None
    project: str | None
    site: str | None


class Maintenance(Out):
    id: int
    project: str
    from_at: float
    to_at: float
    reason: str
    created_by: str
    created_at: float
    revoked_at: float | None
    revoked_by: str | None
    revoke_reason: str | None


class AuditEntry(Out):
    id: int
    at: float
    actor: str
    action: str
    target: str
    reason: str | None
    detail: dict[str, Any]


class Runs(Out):
    runs: list[dict[str, Any]]
    sight: list[dict[str, Any]]


class Me(Out):
    username: str
    role: str
    group: str | None
    display_name: str
    permissions: list[str]


class Ok(Out):
    ok: bool
