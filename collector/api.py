"""The collector's HTTP API (FastAPI). Reads only; the ingest thread does the writing."""

from __future__ import annotations

from fastapi import FastAPI, HTTPException, Query

from collector.ingest import Ingest
from collector.store import list_incidents, list_outages, open_db
from collector.workflow.api import router_for


def create_app(ingest: Ingest) -> FastAPI:
    app = FastAPI(title="parkwatch collector", version="0.1.0")
    app.include_router(router_for(ingest.cfg))

    def db():
        return open_db(ingest.cfg.database)

    @app.get("/healthz")
    def healthz():
        return {"ok": True, "mqtt_connected": ingest.connected.is_set(),
                "received": ingest.received, "duplicates": ingest.duplicates,
                "rejected": ingest.rejections.total,
                "rejected_by_reason": dict(ingest.rejections.by_reason)}

    @app.get("/api/sites")
    def sites():
        with ingest.lock:
            return [{
                "project": s.project, "site": s.site, "state": s.state,
                "last_seen": s.last_seen, "boot": s.boot,
                "clock_offset_s": None if s.offset is None else round(s.offset, 3),
                "devices": [{"device": name, "state": d.state, "fault": d.fault,
                             "since": d.since} for name, d in sorted(s.devices.items())],
            } for s in sorted(ingest.tracker.sites.values(), key=lambda s: (s.project, s.site))]

    @app.get("/api/incidents")
    def incidents(state: str | None = Query(None, pattern="^(open|closed)$")):
        return list_incidents(db(), state)

    @app.get("/api/outages")
    def outages():
        return list_outages(db())

    @app.get("/api/incidents/{incident_id}")
    def incident(incident_id: int):
        rows = [r for r in list_incidents(db()) if r["id"] == incident_id]
        if not rows:
            raise HTTPException(404, f"no incident {incident_id}")
        return rows[0]

    return app
