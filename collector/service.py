"""The collector process: ingest thread plus the API served by uvicorn."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

import uvicorn

from collector.config import CollectorConfig
from collector.ingest import Ingest
from collector.partitioned import Partitioned
from collector.web.api import create_app
from collector.workflow.service import worker_for
from parkwatch.core.clock import Clock

log = logging.getLogger("parkwatch.collector")
EXIT_THREAD = 70  # a worker thread died (EX_SOFTWARE); systemd restarts the process
EXIT_STORAGE = 75  # the store failed for longer than storage_grace_s (EX_TEMPFAIL)
WATCH_S = 0.5  # how often the process checks its threads and its store


class Collector:
    def __init__(self, cfg: CollectorConfig, clock: Clock = time.time):
        """``clock``: the process's one wall clock, handed to ingest, the API (through
        ingest) and the workflow worker alike."""
        self.cfg = cfg
        # one ingest for the whole fleet, or one per partition held (docs/scale.md)
        self.ingest = Partitioned(cfg, clock) if cfg.partitions else Ingest(cfg, clock=clock)
        self.app = create_app(self.ingest)
        self.workflow = worker_for(cfg, clock)
        self.server = uvicorn.Server(uvicorn.Config(
            self.app, host=cfg.api_host, port=cfg.api_port, log_level="warning",
            lifespan="off"))
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (useful when the config asked for port 0)."""
        for server in self.server.servers:
            for sock in server.sockets:
                return sock.getsockname()[1]
        return self.cfg.api_port

    def start(self) -> None:
        """Start in the background and return once the API is listening."""
        if isinstance(self.cfg.database, Path):  # a URL's database is the server's
            self.cfg.database.parent.mkdir(parents=True, exist_ok=True)
        self.workflow.start()  # migrates the database before the ingest thread opens it
        self.ingest.start()
        self._thread = threading.Thread(target=self.server.run, name="api", daemon=True)
        self._thread.start()
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"API could not listen on {self.cfg.api_host}:"
                                   f"{self.cfg.api_port}")
            self._thread.join(0.05)

    def problem(self, mono: float) -> tuple[int, str] | None:
        """Why the process must exit now (code, reason), if it must: a collector that
        cannot store or has lost a worker must not look alive (systemd restarts it)."""
        storage = self.ingest.storage
        if storage.expired(mono):
            return EXIT_STORAGE, (f"storage has failed for {storage.grace_s:g} s "
                                  f"(storage_grace_s): {storage.error}")
        threads = [self.ingest._worker, self._thread, *self.workflow._threads]
        for t in threads:
            if t is not None and not t.is_alive():
                return EXIT_THREAD, f"the {t.name} thread died"
        return None

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(5)
        self.workflow.stop()
        self.ingest.stop()


def run(cfg: CollectorConfig) -> int:
    """Serve until told to stop (0) or until the store or a thread fails (non-zero)."""
    collector = Collector(cfg)
    try:
        collector.start()
    except (sqlite3.Error, OSError) as e:
        log.critical("cannot open the database %s: %s; exiting", cfg.database, e)
        return EXIT_STORAGE
    log.info("collector API on http://%s:%d", cfg.api_host, collector.port)
    watch = threading.Event()
    try:
        while not watch.wait(WATCH_S):
            found = collector.problem(time.monotonic())
            if found:
                log.critical("%s; exiting with code %d", found[1], found[0])
                return found[0]
    finally:
        collector.stop()
    return 0
