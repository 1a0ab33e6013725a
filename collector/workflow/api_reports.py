"""HTTP for what the workflow tells: the outbox of notifications, and the monthly report."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import PlainTextResponse

from collector.workflow import api_models as m
from collector.workflow import report
from collector.workflow.api_deps import WorkflowDeps, workflow

router = APIRouter()


@router.get("/api/workflow/outbox", response_model=list[m.OutboxRow])
def outbox(state: str | None = Query(None, pattern="^(pending|sending|sent)$"),
           w: WorkflowDeps = Depends(workflow)):
    with w.session() as s:
        return s.outbox(state)


@router.get("/api/reports/monthly", response_model=m.MonthlyReport, responses={200: {
    "description": "The month's scores (JSON), or as CSV with format=csv",
    "content": {"text/csv": {"schema": {"type": "string"}}}}})
def monthly(month: str = Query(..., pattern=r"^20\d{2}-(0[1-9]|1[0-2])$",
                               description="YYYY-MM, 2000-01 to 2099-12"),
            format: Literal["json", "csv"] = "json", w: WorkflowDeps = Depends(workflow)):
    try:
        with w.session() as s:
            rep = report.monthly_report(s, month, w.clock())
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
    if format == "csv":
        return PlainTextResponse(report.to_csv(rep), media_type="text/csv")
    return rep
