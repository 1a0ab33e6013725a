"""The collector process: ingest thread plus the API served by uvicorn."""

from __future__ import annotations

import logging
import threading

import uvicorn

from collector.api import create_app
from collector.config import CollectorConfig
from collector.ingest import Ingest
from collector.workflow.service import worker_for

log = logging.getLogger("parkwatch.collector")


class Collector:
    def __init__(self, cfg: CollectorConfig):
        self.cfg = cfg
        self.ingest = Ingest(cfg)
        self.app = create_app(self.ingest)
        self.workflow = worker_for(cfg)
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

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(5)
        self.workflow.stop()
        self.ingest.stop()


def run(cfg: CollectorConfig) -> None:
    collector = Collector(cfg)
    collector.start()
    log.info("collector API on http://%s:%d", cfg.api_host, collector.port)
    try:
        threading.Event().wait()
    finally:
        collector.stop()
