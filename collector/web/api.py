"""The collector's HTTP API (FastAPI). The ingest thread writes outages; the API reads them
and writes only operator marks (exclusions, maintenance windows), each with an audit row.

A request that is wrong gets a 4xx whose ``detail`` says what, and changes nothing.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from collector.db.connection import request_db
from collector.downtime import marks, report
from collector.fleet.snapshots import merge, site_json
from collector.fleet.store_snapshots import read_snapshots
from collector.ingest import Ingest
from collector.store import Store, incident_by_id, list_incidents, list_outages
from collector.web import api_models as m
from collector.web import fleet_api
from collector.web.console.deps import AuthContext
from collector.web.console.guard import actor
from collector.web.console.routes import mount
from collector.web.contract import errors, install, validation_error
from collector.web.safejson import SafeJSONResponse
from collector.workflow.api import router_for
from parkwatch.core.conf import package_version
from parkwatch.core.ids import ID_PATTERN as ID

REASON = ("why, in words: at least 3 letters (any script); checked once the target is known "
          "to exist and to allow the mark")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExclusionIn(_Body):
    cause: Literal["customer"] = "customer"
    reason: str = Field(min_length=1, max_length=500, description=REASON)
    by: str | None = Field(None, min_length=1, max_length=100)  # the signed-in user wins


class RevokeIn(_Body):
    reason: str = Field(min_length=1, max_length=500, description=REASON)
    by: str | None = Field(None, min_length=1, max_length=100)  # the signed-in user wins


class MaintenanceIn(_Body):
    from_: datetime = Field(alias="from")
    to: datetime
    reason: str = Field(min_length=1, max_length=500, description=REASON)
    by: str | None = Field(None, min_length=1, max_length=100)  # the signed-in user wins


def _epoch(t: datetime, timezone: str) -> float:
    """A time without an offset is read in the project's own time zone."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=ZoneInfo(timezone))
    return t.timestamp()


def create_app(ingest: Ingest) -> FastAPI:
    """The app on ``ingest``: its own endpoints (this module's ``router``, given the ingest
    by ``Depends(_ingest)``), the workflow's, the fleet's, and the console with its guard."""
    app = FastAPI(title="parkwatch collector", version=package_version(),
                  default_response_class=SafeJSONResponse)  # poison values: safejson.py
    app.state.ingest = ingest
    app.include_router(router_for(ingest.cfg, lambda: ingest.clock()))
    app.include_router(fleet_api.router(ingest.cfg, lambda: ingest.clock()))
    mount(app, AuthContext(lambda: _db(ingest), lambda: ingest.clock()),
          ingest.cfg.anonymous_read)
    app.add_exception_handler(marks.MarkError, _mark_error)
    app.add_exception_handler(report.ReportError, _report_error)
    app.include_router(router)
    install(app, ingest.cfg.anonymous_read)
    return app


def _mark_error(request: Request, e: marks.MarkError):
    body = validation_error(e.message) if e.status == 422 else {"detail": e.message}
    return JSONResponse(body, status_code=e.status)


def _report_error(request: Request, e: report.ReportError):
    return JSONResponse({"detail": str(e)}, status_code=404)


async def _ingest(request: Request) -> Ingest:
    """The handlers' dependency: the app's ingest (on the event loop; it opens nothing)."""
    return request.app.state.ingest


def _db(ingest: Ingest):
    """The request's connection (on PostgreSQL one kept for reuse: collector/db/pg_pool.py)."""
    return request_db(ingest.cfg.database)


router = APIRouter()


@router.get("/healthz", response_model=m.Health)
def healthz(ingest: Ingest = Depends(_ingest)):
    storage = ingest.storage.report(time.monotonic())  # fails closed: storage_guard.py
    return {"ok": storage["ok"] and ingest.broker_problem is None, "storage": storage,
            "broker_problem": ingest.broker_problem,
            "mqtt_connected": ingest.connected.is_set(),
            "received": ingest.received, "duplicates": ingest.duplicates,
            "rejected": ingest.rejections.total,
            "rejected_by_reason": dict(ingest.rejections.by_reason),
            "rejected_by_code": dict(ingest.rejections.by_code),
            "backlog": ingest.backlog, **ingest.lag(),  # behind? collector/tracking/lag.py
            "run": ingest.core.run_id if ingest.core else None,
            "partitions": ingest.owned()}


@router.get("/api/sites", response_model=list[m.Site])
def sites(ingest: Ingest = Depends(_ingest)):
    """Every site of the fleet. On a partitioned collector (docs/scale.md) the sites of
    the partitions it holds as it sees them now, the others as their holders last stored
    them: a state at most 5 s old, `last_seen` at most 30 s; `unknown` while nobody
    holds their partition."""
    with ingest.lock:
        local = {(s.project, s.site): site_json(s)
                 for s in (ingest.tracker.sites.values() if ingest.tracker else ())}
    if ingest.owned() is None:  # a lone collector: the whole fleet is its own
        return [local[k] for k in sorted(local)]  # (no store yet: none)
    return merge(local, read_snapshots(_db(ingest)), ingest.clock())


@router.get("/api/incidents", response_model=list[m.Incident])
def incidents(state: str | None = Query(None, pattern="^(open|closed|withdrawn)$"),
              ingest: Ingest = Depends(_ingest)):
    return list_incidents(_db(ingest), state)


@router.get("/api/outages", response_model=list[m.Outage])
def outages(project: str | None = Query(None, pattern=ID), ingest: Ingest = Depends(_ingest)):
    return list_outages(_db(ingest), project)


@router.get("/api/incidents/{incident_id}", response_model=m.Incident,
            responses=errors(404))
def incident(incident_id: int, ingest: Ingest = Depends(_ingest)):
    row = incident_by_id(_db(ingest), incident_id)  # by its key, not every incident read
    if row is None:
        raise HTTPException(404, f"no incident {incident_id}")
    return row


@router.get("/api/projects", response_model=list[m.Project])
def projects(ingest: Ingest = Depends(_ingest)):
    return report.projects(_db(ingest))


@router.get("/api/zones")
def zones(ingest: Ingest = Depends(_ingest)):
    """Each project's time zone, and the collector's own (for the platform's incidents
    and projects it has not heard of): the console shows every time in them."""
    return {"default": ingest.cfg.timezone,
            "projects": {r["project"]: r["timezone"] for r in report.projects(_db(ingest))}}


@router.get("/api/projects/{project}/budget", response_model=m.Budget,
            responses=errors(404))
def budget(project: str = Path(pattern=ID),
           year: int = Query(..., ge=2000, le=2200, description="calendar year"),
           ingest: Ingest = Depends(_ingest)):
    return report.budget(_db(ingest), project, year, now=ingest.clock(),
                         live_run=ingest.live_runs())


@router.post("/api/outages/{outage_id}/exclusion", status_code=201,
             response_model=m.Exclusion, responses=errors(404, 409))
def exclude(outage_id: int, body: ExclusionIn, request: Request,
            ingest: Ingest = Depends(_ingest)):
    return marks.exclude_outage(_db(ingest), outage_id, body.cause, body.reason,
                                actor(request, body.by), ingest.clock())


@router.get("/api/exclusions", response_model=list[m.Exclusion])
def exclusions(project: str | None = Query(None, pattern=ID),
               ingest: Ingest = Depends(_ingest)):
    return marks.list_exclusions(_db(ingest), project)


@router.post("/api/exclusions/{mark_id}/revoke", response_model=m.Exclusion,
             responses=errors(404, 409))
def revoke_exclusion(mark_id: int, body: RevokeIn, request: Request,
                     ingest: Ingest = Depends(_ingest)):
    return marks.revoke_exclusion(_db(ingest), mark_id, body.reason, actor(request, body.by),
                                  ingest.clock())


@router.post("/api/projects/{project}/maintenance", status_code=201,
             response_model=m.Maintenance, responses=errors(404))
def add_maintenance(body: MaintenanceIn, request: Request,
                    project: str = Path(pattern=ID), ingest: Ingest = Depends(_ingest)):
    d = _db(ingest)
    marks.known_project(d, project)
    tz = report.rules_for(d, project).timezone
    return marks.add_maintenance(d, project, _epoch(body.from_, tz), _epoch(body.to, tz),
                                 body.reason, actor(request, body.by), ingest.clock())


@router.get("/api/projects/{project}/maintenance", response_model=list[m.Maintenance])
def maintenance(project: str = Path(pattern=ID), ingest: Ingest = Depends(_ingest)):
    return marks.list_maintenance(_db(ingest), project)


@router.post("/api/maintenance/{mid}/revoke", response_model=m.Maintenance,
             responses=errors(404, 409))
def revoke_maintenance(mid: int, body: RevokeIn, request: Request,
                       ingest: Ingest = Depends(_ingest)):
    return marks.revoke_maintenance(_db(ingest), mid, body.reason, actor(request, body.by),
                                    ingest.clock())


@router.get("/api/audit", response_model=list[m.AuditEntry])
def audit(limit: int = Query(100, ge=1, le=10000), ingest: Ingest = Depends(_ingest)):
    return marks.audit_log(_db(ingest), limit)


@router.get("/api/collector/runs", response_model=m.Runs)
def runs(ingest: Ingest = Depends(_ingest)):
    store = Store.on(_db(ingest))
    return {"runs": store.runs(), "sight": store.sight_periods()}
