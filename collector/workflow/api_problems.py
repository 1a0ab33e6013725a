"""HTTP for common problems: listed, and decided (one operation per action) by the group
that owns them."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from collector.web.console.guard import actor, require_problem_group
from collector.web.contract import errors
from collector.workflow import api_models as m
from collector.workflow.api_bodies import PROBLEM_BODIES, ProblemActionIn
from collector.workflow.api_deps import WorkflowDeps, act, workflow
from collector.workflow.store import WorkflowStore

router = APIRouter()


@router.get("/api/workflow/problems", response_model=list[m.Problem])
def problems(state: str | None = Query(None, pattern="^(proposed|confirmed|solved|"
                                                      "rejected)$"),
             w: WorkflowDeps = Depends(workflow)):
    with w.session() as s:
        return s.problems(state)


def problem_action(pid: int, action: str, body: ProblemActionIn, request: Request,
                   w: WorkflowDeps):
    require_problem_group(request, w.cfg.problem_group)
    who = actor(request, body.who)
    with w.session() as s:
        return act(lambda: s.problem_action(
            pid, action, w.clock(), who, note=body.note,
            plan_date=body.plan_date and body.plan_date.isoformat()))


def problem_route(name: str):
    def one(pid: int, body: ProblemActionIn, request: Request,
            w: WorkflowDeps = Depends(workflow)):
        return problem_action(pid, name, body, request, w)
    one.__annotations__["body"] = PROBLEM_BODIES.get(name, ProblemActionIn)
    return one


for _name in WorkflowStore.PROBLEM_ACTIONS:
    router.add_api_route(f"/api/workflow/problems/{{pid}}/{_name}", problem_route(_name),
                         methods=["POST"], name=f"problem_{_name}",
                         summary=f"Common problem: {_name}", response_model=m.Problem,
                         responses=errors(403, 404, 409))


@router.post("/api/workflow/problems/{pid}/{action}", include_in_schema=False)
def no_problem_action(pid: int, action: str):
    raise HTTPException(422, f"unknown action {action!r}; one of "
                             f"{', '.join(WorkflowStore.PROBLEM_ACTIONS)}")
