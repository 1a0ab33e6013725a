"""The queries the collector, the workflow worker and the API's list endpoints run against
the big tables, called through the stores themselves (so the SQL timed is the SQL shipped),
timed on a year of a fleet (bench/year_data.py) without and with the indexes of migrations
``007_hot_query_indexes`` and ``wf_002_hot_query_indexes``.
"""

from __future__ import annotations

import statistics
import time

from bench.year_data import YEAR0, YEAR_S
from collector.db.core_schema import HOT_INDEXES
from collector.downtime.store import DowntimeStore
from collector.store import Store, incident_by_id, list_incidents
from collector.workflow.config import WorkflowConfig
from collector.workflow.schema import WF_HOT_INDEXES
from collector.workflow.store import WorkflowStore

END = YEAR0 + YEAR_S
RESUME = END - 2 * 86400  # collector/core.py RESUME_CLOSED_S before the year's end


# PostgreSQL's plans of the statements the indexes are for, in its own terms
PLANS = [
    ("SELECT * FROM outages WHERE kind = 'site_network' AND ended_at >= %s ORDER BY ended_at",
     [RESUME]),
    ("SELECT id FROM outages WHERE project = 'P0010' AND site = 'S050' AND kind = "
     "'site_network' AND started_at <= %s AND (ended_at IS NULL OR ended_at >= %s)",
     [YEAR0 + 130 * 86400, YEAR0 + 100 * 86400]),
    ("SELECT id FROM incidents WHERE state = 'open' ORDER BY id", []),
    ("SELECT key FROM wf_events WHERE ticket_id = 1000 ORDER BY id", []),
    ("SELECT id FROM wf_tickets WHERE state != 'closed' OR (resolved_at > %s AND "
     "fault_report_at IS NULL) ORDER BY id", [END - 8 * 86400]),
]


def queries(db, sites: int) -> list[tuple[str, object]]:
    """(what, call) of each hot query on ``db``; ``call()`` returns how many rows."""
    core, down = Store.on(db), DowntimeStore(db)
    wf = WorkflowStore.__new__(WorkflowStore)
    wf.cfg, wf.db, wf._joined = WorkflowConfig(), db, True
    mid = f"P{(sites // 200):04d}"
    top = db.conn.execute("SELECT max(id) FROM wf_tickets").fetchone()[0] or 1
    return [
        ("resume: open outages", lambda: len(core.open_outages())),
        ("resume: site outages ended in 2 days", lambda: len(core.recent_site_outages(RESUME))),
        ("scenario: a site's outages in a window", lambda: len(core.outages_between(
            mid, "S050", "site_network", YEAR0 + 100 * 86400, YEAR0 + 130 * 86400))),
        ("budget: a project's year", lambda: len(down.budget_outages(mid, YEAR0, END))),
        ("every second: sight of the run", lambda: core.alive(1, END) or 1),
        ("resume: sight since", lambda: len(core.sight_since(RESUME))),
        ("API incidents?state=open", lambda: len(list_incidents(db, "open"))),
        ("API incidents/{id}", lambda: len(incident_by_id(db, top // 2) or {})),
        ("worker: clocks running", lambda: len(wf.clocked(END - 8 * 86400))),
        ("worker: ended outages", lambda: len(wf.ended_outages())),
        ("worker: untaken incidents", lambda: len(wf.untaken_incidents())),
        ("API workflow incidents?state=live", lambda: len(wf.find("live", limit=500))),
        ("API workflow incidents?project=P", lambda: len(wf.find(project=mid, limit=500))),
        ("API workflow incident detail events", lambda: len(wf.events(top // 2))),
    ]


def time_all(db, sites: int, reps: int = 5) -> dict[str, dict]:
    """Median milliseconds (and rows) of each query over ``reps`` runs after a warm one."""
    out = {}
    for name, call in queries(db, sites):
        rows = call()
        db.conn.commit()
        took = []
        for _ in range(reps):
            started = time.perf_counter()
            call()
            took.append((time.perf_counter() - started) * 1000)
            db.conn.commit()
        out[name] = {"ms": round(statistics.median(took), 3), "rows": rows}
    return out


def index_names() -> list[str]:
    return [name for name, _ in HOT_INDEXES + WF_HOT_INDEXES]


def drop_indexes(db) -> None:
    with db.conn:
        for name in index_names():
            db.conn.execute(f"DROP INDEX IF EXISTS {name}")


def create_indexes(db) -> dict[str, float]:
    """Create them again (as the migrations do); seconds each took."""
    took = {}
    for name, sql in HOT_INDEXES + WF_HOT_INDEXES:
        started = time.perf_counter()
        with db.conn:
            db.conn.execute(sql)
        took[name] = round(time.perf_counter() - started, 2)
    if getattr(db, "backend", "sqlite") == "postgresql":
        db.conn.raw("ANALYZE")
    else:
        db.execute("ANALYZE")
    return took


def plans(db, sql_and_args: list[tuple[str, list]]) -> dict[str, str]:
    """PostgreSQL's EXPLAIN ANALYZE of a few statements, in its own terms: the plan lines."""
    out = {}
    for sql, args in sql_and_args:
        rows = db.conn.raw("EXPLAIN (ANALYZE, COSTS OFF, TIMING ON) " + sql, args).fetchall()
        out[sql] = [r[0] for r in rows]
    return out
