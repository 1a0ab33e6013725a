"""HTTP for the workflow: incidents reported by hand, lifecycle actions, common problems,
the outbox, and the monthly report. A thin shell over ``WorkflowStore``; the API's clock is
the only wall clock read, and it is passed down as ``now``.

The handlers are module-level, one module per job: ``api_incidents`` (incidents, their
actions and attachments, the groups), ``api_problems`` (common problems) and
``api_reports`` (outbox, monthly report). What they need comes as a ``WorkflowDeps``
(``api_deps``) that ``build_router`` binds to its router: this module only wires.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends

from collector.workflow import api_incidents, api_problems, api_reports
from collector.workflow.api_deps import WorkflowDeps
from collector.workflow.config import WorkflowConfig
from parkwatch.core.clock import Clock


def build_router(database, cfg: WorkflowConfig, clock: Clock = time.time) -> APIRouter:
    """The workflow's operations on ``database``, ``cfg`` and ``clock``, in the order they
    match (a specific action before the catch-all that names the known ones)."""
    r = APIRouter(dependencies=[Depends(WorkflowDeps(database, cfg, clock).bind)])
    for part in (api_incidents, api_problems, api_reports):
        r.include_router(part.router)
    return r


def router_for(collector_cfg, clock=time.time) -> APIRouter:
    """The router for the collector's app, on its database and ``[workflow]`` table, on the
    collector's clock."""
    return build_router(collector_cfg.database, collector_cfg.workflow, clock)
