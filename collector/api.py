"""The collector's HTTP API (FastAPI). Reads only; the ingest thread does the writing."""

from __future__ import annotations

from fastapi import Depends, FastAPI, HTTPException, Query

from collector.console.deps import AuthContext, require
from collector.console.routes import mount
from collector.ingest import Ingest
from collector.store import list_incidents, list_outages, open_db


def create_app(ingest: Ingest) -> FastAPI:
    def db():
        return open_db(ingest.cfg.database)

    # Reads need a signed-in user unless the config opens them (a loopback-only SRE setup).
    viewer = [] if ingest.cfg.anonymous_read else [Depends(require("view"))]
    app = FastAPI(title="parkwatch collector", version="0.1.0")
    mount(app, AuthContext(db, ingest.clock))

    @app.get("/healthz")
    def healthz():
        return {"ok": True, "mqtt_connected": ingest.connected.is_set(),
                "received": ingest.received, "duplicates": ingest.duplicates,
                "rejected": ingest.rejections.total,
                "rejected_by_reason": dict(ingest.rejections.by_reason)}

    @app.get("/api/sites", dependencies=viewer)
    def sites():
        with ingest.lock:
            return [{
                "project": s.project, "site": s.site, "state": s.state,
                "last_seen": s.last_seen, "boot": s.boot,
                "clock_offset_s": None if s.offset is None else round(s.offset, 3),
                "devices": [{"device": name, "state": d.state, "fault": d.fault,
                             "since": d.since} for name, d in sorted(s.devices.items())],
            } for s in sorted(ingest.tracker.sites.values(), key=lambda s: (s.project, s.site))]

    @app.get("/api/incidents", dependencies=viewer)
    def incidents(state: str | None = Query(None, pattern="^(open|closed)$")):
        return list_incidents(db(), state)

    @app.get("/api/outages", dependencies=viewer)
    def outages():
        return list_outages(db())

    @app.get("/api/incidents/{incident_id}", dependencies=viewer)
    def incident(incident_id: int):
        rows = [r for r in list_incidents(db()) if r["id"] == incident_id]
        if not rows:
            raise HTTPException(404, f"no incident {incident_id}")
        return rows[0]

    return app
