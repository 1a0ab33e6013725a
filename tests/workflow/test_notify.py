"""Notifications through apprise to a real local HTTP receiver (apprise's json:// webhook):
the outbox survives a restart with the receiver down and then up; a webhook that hangs
holds up only its own delivery, never the clocks."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from collector.store import Store
from collector.tracking.tracker import Tracker
from collector.workflow.config import Outbox, Route, WorkflowConfig
from collector.workflow.notify import Notifier
from collector.workflow.routing import DEFAULT_GROUPS, Group
from collector.workflow.service import WorkflowWorker
from collector.workflow.store import STALE_CLAIM_S, WorkflowStore
from parkwatch.core import wire
from simulators.ports import HeldPort
from tests.helpers import wait_for


class Receiver:
    """A webhook on 127.0.0.1 recording each JSON POST; ``hold`` keeps requests waiting."""

    def __init__(self, port: int = 0, hold: bool = False):
        self.posts: list[dict] = []
        self.waiting = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.waiting.set()
                receiver.release.wait(30)
                receiver.posts.append({"path": self.path, **json.loads(body)})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


MANUAL = {"source": "manual", "project": "P1", "site": "S1", "device": "gate-in",
          "kind": "device_offline", "severity": 2, "title": "gate offline",
          "opened_at": 1_772_503_200.0}  # 2026-03-03 10:00 in Shanghai


def test_the_outbox_survives_a_restart_with_the_receiver_down_then_up(new_database):
    held = HeldPort()  # nobody listens there yet: the webhook is down (and no one else's)
    port = held.port
    cfg = WorkflowConfig(
        routes=(Route("remote-ops", (f"json://127.0.0.1:{port}/hook?cto=2&rto=5",),
                      ("dispatched", "breach")),),
        outbox=Outbox(attempts=2, retry_wait_s=0.05))
    now = MANUAL["opened_at"]
    store = WorkflowStore(new_database("c"), cfg)
    tid = store.create(MANUAL, now, "seat-wang", dispatch_to="remote-ops")
    (row,) = store.outbox()  # "opened" goes to the seat, which has no route
    assert (row["route_to"], row["state"]) == ("remote-ops", "pending")
    assert Notifier(store, cfg.outbox).deliver_due(now) == 0
    (row,) = store.outbox()
    assert (row["state"], row["attempts"]) == ("pending", 1)
    assert "not delivered after 2 tries" in row["last_error"]
    assert row["next_attempt_at"] == now + 5
    assert Notifier(store, cfg.outbox).deliver_due(now + 1) == 0  # waits for its next pass
    store.close()

    with Receiver(port) as hook:  # the collector restarts; the webhook is back
        store = WorkflowStore(new_database("c"), cfg)
        assert Notifier(store, cfg.outbox).deliver_due(now + 10) == 1
        assert Notifier(store, cfg.outbox).deliver_due(now + 100) == 0
        (post,) = hook.posts
        assert post["path"] == "/hook"
        assert post["title"] == f"[parkwatch] incident dispatched to you: #{tid} P1/S1/gate-in"
        assert "group: remote-ops" in post["message"]
        (row,) = store.outbox()
        assert (row["state"], row["attempts"], row["last_error"]) == ("sent", 2, None)
    held.close()


def test_a_row_claimed_by_a_worker_that_died_is_taken_again_later(new_database):
    cfg = WorkflowConfig(routes=(Route("remote-ops", ("json://127.0.0.1:9/x",)),))
    store = WorkflowStore(new_database("c"), cfg)
    store.create(MANUAL, 100.0, "seat", dispatch_to="remote-ops")
    assert len(store.claim_outbox(100.0, 10)) == 1  # ...and the worker dies here
    other = WorkflowStore(new_database("c"), cfg)
    assert other.claim_outbox(101.0, 10) == []
    assert len(other.claim_outbox(101.0 + STALE_CLAIM_S, 10)) == 1
    assert other.claim_outbox(102.0 + STALE_CLAIM_S, 10) == []  # claimed once


def test_a_hanging_webhook_holds_up_only_its_own_delivery(new_database):
    db = new_database("c")
    with Receiver(hold=True) as stuck, Receiver() as seat:
        groups = {**DEFAULT_GROUPS, "remote-ops": Group("remote-ops", 1.0, 3600.0,
                                                        score="k", base=50)}
        cfg = WorkflowConfig(
            window_start="00:00", window_end="24:00", groups=groups, tick_s=0.1,
            routes=(Route("remote-ops", (f"json://127.0.0.1:{stuck.port}/ro?rto=60",),
                          ("dispatched",)),
                    Route("seat", (f"json://127.0.0.1:{seat.port}/seat",), ("breach",))),
            outbox=Outbox(attempts=1, retry_wait_s=0))
        worker = WorkflowWorker(db, cfg)
        worker.start()
        try:
            # A real incident from the core: a device offline past a 1-second threshold.
            core, tracker, t0 = Store(db), Tracker(threshold_s=1), time.time()
            core.apply(tracker.receive(wire.Event("P1", "S1", 1, 1, t0, "device_state",
                                                  device="cam-1", state="offline",
                                                  since=t0), t0))
            wait_for(lambda: core.apply(tracker.tick(time.time())) or
                     list(core.db.query("SELECT id FROM incidents")), 10, what="an incident")
            # The dispatch notice hangs at the remote-ops webhook...
            wait_for(stuck.waiting.is_set, 15, what="the dispatch notice to hang")
            store = WorkflowStore(db, cfg)
            # ...while the clocks go on: the 1-second response standard is breached.
            wait_for(lambda: [e for e in store.events(1) if e["kind"] == "breach"], 15,
                     what="the breach while the notifier is stuck")
            assert seat.posts == [] and stuck.posts == []
            stuck.release.set()
            wait_for(lambda: seat.posts, 15, what="the breach notice once the hang ends")
            assert "standard breached" in seat.posts[0]["title"]
            assert "response was due" in seat.posts[0]["message"]
            assert [p["path"] for p in stuck.posts] == ["/ro"]
            store.close()
        finally:
            worker.stop()
