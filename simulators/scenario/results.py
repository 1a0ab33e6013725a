"""After a scenario's run: the outages its customers caused marked, and the summary."""

from __future__ import annotations

import sqlite_utils

from collector.downtime import marks
from simulators.scenario.spec import Scenario

CAUSED = {"uplink_down": "site_network", "device_offline": "device_offline",
          "device_fault": "device_fault", "software_down": "software_down"}


def mark_causes(sc: Scenario, db: sqlite_utils.Database) -> None:
    """Events with ``cause = "customer"``: an operator marks what they caused."""
    for ev in sc.events:
        if ev.cause != "customer" or ev.kind not in CAUSED:
            continue
        sql = ("SELECT id FROM outages WHERE project = ? AND site = ? AND kind = ? AND "
               "started_at <= ? AND coalesce(ended_at, ?) >= ?")
        args = [ev.project, ev.site, CAUSED[ev.kind], ev.end + 1, ev.end, ev.at - 1]
        if ev.device and ev.kind != "uplink_down":
            sql += " AND device = ?"
            args.append(ev.device)
        for row in db.query(sql, args):
            if list(db.query("SELECT 1 FROM exclusions WHERE outage_id = ? AND "
                             "revoked_at IS NULL", [row["id"]])):
                continue
            marks.exclude_outage(db, row["id"], "customer",
                                 f"scenario event[{ev.index}]: cause = customer",
                                 "scenario", sc.end)


def summary(runner, wall_s: float) -> dict:
    db = runner.store.db
    count = lambda sql: next(iter(db.query(sql)))["n"]  # noqa: E731
    sc = runner.sc
    return {
        "scenario": sc.path, "database": str(runner.cfg.database),
        "sites": len(runner.sites), "events": len(sc.events),
        "virtual_days": round((sc.end - sc.start) / 86400, 2),
        "happenings": runner.stats["happenings"], "messages": runner.stats["messages"],
        "heartbeats": runner.stats["heartbeats"],
        "outages": count("SELECT count(*) AS n FROM outages"),
        "incidents": count("SELECT count(*) AS n FROM incidents WHERE state != 'withdrawn'"),
        "tickets": count("SELECT count(*) AS n FROM wf_tickets"),
        "tickets_closed": count("SELECT count(*) AS n FROM wf_tickets WHERE state = 'closed'"),
        "responder_steps": runner.workflow.taken,
        "wall_s": round(wall_s, 3),
    }
