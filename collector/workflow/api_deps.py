"""What the workflow's HTTP handlers are given: the database, the ``[workflow]`` table and the
clock, as one ``WorkflowDeps``. ``build_router`` (collector/workflow/api.py) binds one to its
router; each handler takes it with ``Depends(workflow)``.

Neither dependency asks anything of the request but the request itself, so neither adds a
parameter to the OpenAPI document; and neither opens a connection (see ``session``).
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from fastapi import HTTPException, Request

from collector.workflow import lifecycle
from collector.workflow.config import WorkflowConfig
from collector.workflow.store import WorkflowStore
from parkwatch.core.clock import Clock


@dataclass(frozen=True)
class WorkflowDeps:
    database: str | Path
    cfg: WorkflowConfig
    clock: Clock  # the only wall clock read; a handler reads it once and passes ``now`` down

    def session(self):
        """One connection per request, opened and closed in the endpoint's own thread
        (a dependency with ``yield`` may run in another, which SQLite refuses)."""
        return closing(WorkflowStore(self.database, self.cfg, request=True))

    async def bind(self, request: Request) -> None:
        """The router's dependency: leaves these on the request, for ``workflow``."""
        request.state.workflow = self


async def workflow(request: Request) -> WorkflowDeps:
    """The handlers' dependency: what the router bound (on the event loop, no thread)."""
    return request.state.workflow


def act(call):
    """``call()``, with the lifecycle's refusals as HTTP errors."""
    try:
        return call()
    except lifecycle.NotFound as e:
        raise HTTPException(404, str(e)) from None
    except lifecycle.Conflict as e:
        raise HTTPException(409, str(e)) from None
    except lifecycle.Invalid as e:
        raise HTTPException(422, str(e)) from None
