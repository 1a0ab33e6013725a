"""After a scenario's run: the outages its customers caused marked, and the summary."""

from __future__ import annotations

from collector.downtime import marks
from collector.downtime.store import DowntimeStore
from collector.store import Store
from simulators.scenario.spec import Scenario

CAUSED = {"uplink_down": "site_network", "device_offline": "device_offline",
          "device_fault": "device_fault", "software_down": "software_down"}


def mark_causes(sc: Scenario, store: Store, downtime: DowntimeStore) -> None:
    """Events with ``cause = "customer"``: an operator marks what they caused."""
    for ev in sc.events:
        if ev.cause != "customer" or ev.kind not in CAUSED:
            continue
        device = ev.device if ev.device and ev.kind != "uplink_down" else None
        for outage_id in store.outages_between(ev.project, ev.site, CAUSED[ev.kind],
                                               ev.at - 1, ev.end + 1, device):
            if downtime.active_exclusion(outage_id) is not None:
                continue
            marks.exclude_outage(downtime, outage_id, "customer",
                                 f"scenario event[{ev.index}]: cause = customer",
                                 "scenario", sc.end)


def summary(runner, wall_s: float) -> dict:
    counts = runner.store.counts()
    tickets, closed = runner.workflow.store.ticket_counts()
    sc = runner.sc
    return {
        "scenario": sc.path, "database": str(runner.cfg.database),
        "sites": len(runner.sites), "events": len(sc.events),
        "virtual_days": round((sc.end - sc.start) / 86400, 2),
        "happenings": runner.stats["happenings"], "messages": runner.stats["messages"],
        "heartbeats": runner.stats["heartbeats"],
        "outages": counts["outages"], "incidents": counts["incidents"],
        "tickets": tickets, "tickets_closed": closed,
        "responder_steps": runner.workflow.taken,
        "wall_s": round(wall_s, 3),
    }
