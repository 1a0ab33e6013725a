"""SQLite shell of the workflow: tickets, assignments, audit, events, outbox, problems.

Every action runs load → ``lifecycle.step`` → write in one ``BEGIN IMMEDIATE`` transaction,
so the API and the worker never interleave on one incident, and an illegal action writes
nothing. Events are inserted with their unique key (``INSERT OR IGNORE``): an event that
was recorded before is not recorded, or notified, again.

``WorkflowStore`` is one object made of its table families, one module each:
``store_tickets`` (tickets, assignments), ``store_history`` (audit, events, attachments),
``store_problems`` (common problems), ``store_outbox`` (recording events, rendering and
queueing their notifications) and ``store_core`` (what it reads of the core's incidents and
outages), on ``store_base`` (the connection and its transactions).
"""

from __future__ import annotations

from collector.workflow.store_base import StoreBase, ensure_schema
from collector.workflow.store_core import CoreReads
from collector.workflow.store_history import HistoryTables
from collector.workflow.store_outbox import STALE_CLAIM_S, OutboxTables
from collector.workflow.store_problems import ProblemTables
from collector.workflow.store_tickets import (
    _SET_ASSIGNMENT,
    ASSIGNMENT_FIELDS,
    TICKET_FIELDS,
    TicketTables,
)

__all__ = ["ASSIGNMENT_FIELDS", "STALE_CLAIM_S", "TICKET_FIELDS", "_SET_ASSIGNMENT",
           "StoreBase", "WorkflowStore", "ensure_schema"]


class WorkflowStore(TicketTables, HistoryTables, ProblemTables, OutboxTables, CoreReads):
    """The workflow's tables on one connection (see the module's docstring)."""
