"""Authenticated API reads per second against a real collector (mosquitto, uvicorn, HTTP),
on either database backend: what bench/pg_backend.py reports for the API.

The database holds a small year (bench/year_data.py) and one user with an API token; the
clients send ``GET`` requests with that bearer token from ``clients`` threads, each on its
own keep-alive connection, for ``requests`` requests in all.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx

from bench.year_data import fill
from collector.config import CollectorConfig, ProjectConfig
from collector.db.connection import open_db
from collector.service import Collector
from collector.web.auth import Users
from parkwatch.core.broker import Broker
from simulators.broker import Mosquitto

PATHS = ("/api/incidents?state=open", "/api/workflow/incidents?state=live&limit=20")


def prepare(database, sites: int = 20) -> str:
    """Fill ``database`` and add a reader with a token: the bearer header's value."""
    db = open_db(database)
    try:
        fill(db, sites, 10, log=lambda _: None)
        users = Users(db)
        users.add("reader", "correct-horse-1", "manager")
        return "Bearer " + users.new_api_token("reader", "bench", time.time(), 30)
    finally:
        db.close()


def reads_per_s(database, workdir: Path, requests: int = 2000, clients: int = 4) -> dict:
    """Requests/s of each path in ``PATHS`` (and that every answer was a 200)."""
    bearer = prepare(database)
    broker = Mosquitto(workdir=workdir / "mosquitto").start()
    projects = {"P0000": ProjectConfig(sites=tuple(f"S{i:03d}" for i in range(20)))}
    collector = Collector(CollectorConfig(broker=Broker("127.0.0.1", broker.port),
                                          database=database, api_port=0,
                                          mqtt=broker.collector_mqtt(), projects=projects))
    collector.start()
    try:
        return {path: _hammer(f"http://127.0.0.1:{collector.port}", path, bearer, requests,
                              clients) for path in PATHS}
    finally:
        collector.stop()
        broker.close()


def _hammer(base: str, path: str, bearer: str, requests: int, clients: int) -> dict:
    bad: list[int] = []
    each = max(1, requests // clients)

    def client():
        with httpx.Client(base_url=base, headers={"Authorization": bearer}, timeout=30) as c:
            for _ in range(each):
                r = c.get(path)
                if r.status_code != 200:
                    bad.append(r.status_code)

    for _ in range(2):  # warm: the first requests open what later ones reuse
        with httpx.Client(base_url=base, headers={"Authorization": bearer}) as c:
            c.get(path)
    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.perf_counter() - started
    return {"per_s": round(each * clients / took), "requests": each * clients,
            "not_ok": len(bad), "statuses": sorted(set(bad))}
