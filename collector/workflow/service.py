"""The workflow's worker: given ``now``, take in new automatic incidents, keep the clocks,
propose common problems; beside it, a notifier thread empties the outbox.

``WorkflowService.tick(now)`` is the whole job and takes time as an argument, so the
scenario runner drives it on a virtual clock; ``WorkflowWorker`` runs it under the real
clock in two threads of its own, so neither a slow webhook nor a slow tick can hold up
ingest, and an error is logged, never raised into another thread.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from pathlib import Path

from collector.db.connection import target as db_target
from collector.db.ports import WorkflowDb
from collector.storage_guard import is_storage_error
from collector.workflow import clocks, problems
from collector.workflow.business_time import BusinessClock
from collector.workflow.config import WorkflowConfig
from collector.workflow.lifecycle import Event
from collector.workflow.notify import Notifier
from collector.workflow.routing import device_class, route
from collector.workflow.store import WorkflowStore
from parkwatch.core.clock import Clock

log = logging.getLogger("parkwatch.workflow")
SYSTEM = "system"


class WorkflowService:
    def __init__(self, store: WorkflowDb, cfg: WorkflowConfig):
        self.store, self.cfg = store, cfg
        self._known: set[str] = set()  # event keys already stored by this process
        self._next_problem_scan = float("-inf")
        self._poison: set[tuple[str, object]] = set()  # records skipped (logged once)

    def tick(self, now: float) -> None:
        """Each step on its own: a record one of them cannot handle (a poison value such as
        a time of -1e13 or a string) is logged and skipped, and the others still run."""
        self._contained("step", "incidents", self.take_new_incidents)
        self._contained("step", "outages", self.sync_outages)
        self._contained("step", "clocks", self.evaluate, now)
        if now >= self._next_problem_scan:
            self._next_problem_scan = now + 60.0
            self._contained("step", "problems", self.scan_problems, now)

    def _contained(self, what: str, key, fn, *args, **kwargs):
        """``fn(*args, **kwargs)``; a fault of the data is logged (once per record) and gives None.
        A failure of the storage is raised: the worker retries on a fresh connection."""
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            if what == "incident" and isinstance(e, sqlite3.IntegrityError):
                # Another collector's worker ticketed it first (partitioned collectors
                # share the database; ``wf_tickets.incident_id`` is unique): nothing to do.
                log.debug("workflow: incident %s was ticketed by another worker", key)
                return None
            if is_storage_error(e):
                raise
            if (what, key) not in self._poison:
                self._poison.add((what, key))
                log.exception("workflow: skipped %s %s, which it cannot handle (%s: %s); "
                              "the others carry on", what, key, type(e).__name__, e)
            return None

    # --- automatic incidents ------------------------------------------------------------

    def take_new_incidents(self) -> list[int]:
        """A ticket for each core incident not yet in the workflow, dispatched by the
        routing table (or left open for the seat group when auto_dispatch is off)."""
        rows = self.store.untaken_incidents()
        created = []
        for r in rows:
            if ("incident", r["id"]) in self._poison:
                continue
            tid = self._contained("incident", r["id"], self._take, r)
            if tid is not None:
                created.append(tid)
        return created

    def _take(self, r: dict) -> int:
        dev_class = r.get("device_class") or device_class(r["device"],
                                                          self.cfg.device_classes)
        rule = route(self.cfg.rules, r["kind"], dev_class)
        where = "/".join(p for p in (r["site"], r["device"]) if p)
        fields = {
            "incident_id": r["id"], "source": "auto", "channel": "monitoring",
            "project": r["project"], "site": r["site"], "device": r["device"],
            "kind": r["kind"], "device_class": dev_class, "severity": rule.severity,
            "signature": problems.signature_of(r["kind"], r.get("fault"),
                                               r.get("profile")),
            "title": f"{r['kind'].replace('_', ' ')} at {where}"
                     + (f" ({r['fault']})" if r.get("fault") else ""),
            "opened_at": r["opened_at"]}
        # Dispatched when declared: the routing table acts at once, and the result does
        # not depend on when this worker (or a scenario runner) looked.
        return self.store.create(
            fields, r["declared_at"], SYSTEM,
            note=f"routing table: {r['kind']} -> {rule.group}",
            dispatch_to=rule.group if self.cfg.auto_dispatch else None)

    def sync_outages(self) -> None:
        """Record the end of each automatic incident's outage; it still awaits verification."""
        for r in self.store.ended_outages():
            self._contained("ticket", r["id"], self.store.act, r["id"], "outage_ended",
                            r["closed_at"], SYSTEM,
                            note="the outage is over; verification pending")

    # --- clocks -------------------------------------------------------------------------

    def evaluate(self, now: float) -> int:
        grace = now - self.cfg.clocks.report_due_s - 86400.0
        events: list[Event] = []
        for t in self.store.clocked(grace):
            events += self._contained("ticket", t.id, clocks.evaluate, t,
                                      self.cfg.clock(t.project), self.cfg.clocks, now) or []
        events += self._plan_overdue(now)
        fresh = [e for e in events if e.key not in self._known]
        new = self.store.record(fresh, now) if fresh else 0
        self._known.update(e.key for e in fresh)
        if len(self._known) > 200_000:
            self._known.clear()
        return new

    def _plan_overdue(self, now: float) -> list[Event]:
        bc: BusinessClock = self.cfg.clock()
        today = bc.local_date(now).isoformat()
        return [Event("plan_overdue", f"plan:{p['id']}:{p['plan_date']}", now,
                      (self.cfg.problem_group,), None,
                      {"problem": p["id"], "signature": p["signature"],
                       "projects": p["projects"], "plan_date": p["plan_date"]})
                for p in self.store.problems("confirmed")
                if p["plan_date"] and p["plan_date"] < today]

    # --- common problems ----------------------------------------------------------------

    def scan_problems(self, now: float) -> list[int]:
        live, ended = self.store.problem_memory()
        found = problems.propose(self.store.sightings(now - self.cfg.problem_window_s), now,
                                 self.cfg.problem_window_s, self.cfg.problem_projects,
                                 live, ended)
        ids = []
        for p in found:
            ids.append(self.store.add_problem(p, now))
            log.info("proposed common problem %d: %s at %s", ids[-1], p.signature,
                     json.dumps(p.projects))
        return ids


class WorkflowWorker:
    """The service and the notifier under the real clock, each in its own thread."""

    def __init__(self, database: str | Path, cfg: WorkflowConfig, clock: Clock = time.time):
        self.database, self.cfg, self.clock = db_target(database), cfg, clock
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Bring the database schema up to date here, then start the threads. A store
        that fails now is tried again by the threads (and by the ingest worker, which
        reports it in ``/healthz`` and ends the process after ``storage_grace_s``)."""
        try:
            WorkflowStore(self.database, self.cfg).close()
        except Exception as e:
            if not is_storage_error(e):
                raise
            log.error("cannot bring the workflow's tables up to date: %s", e)
        for name, target in (("workflow", self._run_service), ("notify", self._run_notifier)):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(10)

    def _loop(self, make) -> None:
        """Run ``make(store)()`` every tick with this thread's own database connection."""
        store = work = None
        while not self._stop.is_set():
            try:
                if store is None:
                    store = WorkflowStore(self.database, self.cfg)
                    work = make(store)
                work()
            except Exception as e:
                log.exception("workflow %s failed; carrying on", threading.current_thread().name)
                if store is not None and is_storage_error(e):
                    store.close()  # a fresh connection next time (a read-only one may stick)
                    store = None
            self._stop.wait(self.cfg.tick_s)
        if store is not None:
            store.close()

    def _run_service(self) -> None:
        def make(store):
            service = WorkflowService(store, self.cfg)
            return lambda: service.tick(self.clock())
        self._loop(make)

    def _run_notifier(self) -> None:
        def make(store):
            notifier = Notifier(store, self.cfg.outbox)
            return lambda: notifier.deliver_due(self.clock())
        self._loop(make)


def worker_for(collector_cfg, clock: Clock = time.time) -> WorkflowWorker:
    """The worker for the collector process, on its database and ``[workflow]`` table."""
    return WorkflowWorker(collector_cfg.database, collector_cfg.workflow, clock)
