"""Storage fails closed (issue 11, part 5), replayed with real faults against a real
``parkwatch collector run`` and a real mosquitto.

Before: with the disk full, 200 of 200 QoS 1 events were acknowledged to the broker and
never stored while ``/healthz`` said ok; a read-only database killed the ingest thread
while the process carried on. Now the collector holds what it could not store
unacknowledged, says why in ``/healthz``, exits non-zero after ``storage_grace_s``, and
the restarted collector gets everything from the broker's persistent session: each
event stored exactly once.
"""

from __future__ import annotations

import sqlite3
import time

import pytest
from playwright.sync_api import expect

from tests.console_fixtures import sign_in
from tests.helpers import wait_for
from tests.security.fail_closed_rig import CollectorProc, Site, Tmpfs, seed_poison, stored

EXIT_STORAGE = 75  # collector.service.EXIT_STORAGE


@pytest.fixture
def rig(tmp_path, mosquitto, parkwatch_exe):
    fs = Tmpfs(tmp_path / "small-fs", "16m")
    database = fs.path / "collector.db"
    made = []

    def collector(grace_s: float) -> CollectorProc:
        made.append(CollectorProc(parkwatch_exe, tmp_path, mosquitto, database, grace_s))
        return made[-1]

    site = Site(mosquitto)
    try:
        yield fs, database, collector, site
    finally:
        site.close()
        for c in made:
            c.stop()
        fs.free()
        fs.remount("rw")
        fs.unmount()


def failing(collector: CollectorProc, words: str):
    def check():
        h = collector.health()
        return not h["ok"] and not h["storage"]["ok"] and words in h["storage"]["error"] and h
    return check


def test_disk_full_acknowledges_nothing_unstored_and_exits(rig):
    fs, database, collector, site = rig
    c = collector(grace_s=6)
    c.start()
    site.events(5)  # stored and acknowledged while there is room
    wait_for(lambda: stored(database)[0] == [1, 2, 3, 4, 5], 20, what="the first events")

    fs.fill()
    site.events(200)
    h = wait_for(failing(c, "full"), 20, 0.1, what="/healthz to report the full disk")
    assert h["storage"]["exit_in_s"] <= 6
    assert c.exited(60) == EXIT_STORAGE
    assert "storage has failed" in c.log_text()
    before = stored(database)[0]  # in order: nothing stored past one that was not
    assert before == list(range(1, len(before) + 1)) and len(before) < 205

    fs.free()  # space back: a restarted collector (systemd's job) gets what was held
    c.start()
    wait_for(lambda: len(stored(database)[0]) == 205, 60, 0.2,
             what="all 205 events after the restart")
    seen, events = stored(database)
    assert seen == list(range(1, 206))
    assert events == list(range(1, 206))  # each one's decisions stored exactly once
    h = c.health()
    assert h["ok"] is True
    print(f"\ndisk full: {len(before) - 5} of 200 stored before the exit, 205 of 205 after "
          f"the restart, each once ({h['duplicates']} redelivered copies recognised)")


def _down(fs: Tmpfs, c: CollectorProc) -> None:
    """The filesystem turns read-only. The kernel refuses that while a file on it is open
    for writing (EBUSY), so the collector is killed first, as a crash would, and the next
    one starts on the read-only filesystem."""
    c.proc.kill()
    c.proc.wait(10)
    fs.remount("ro")


def test_read_only_database_holds_messages_then_exits(rig):
    fs, database, collector, site = rig
    c = collector(grace_s=6)
    c.start()
    site.events(3)
    wait_for(lambda: len(stored(database)[0]) == 3, 20, what="the first events")
    _down(fs, c)

    c.start()
    site.events(50)
    wait_for(failing(c, "readonly"), 20, 0.1, what="/healthz to report the read-only store")
    assert c.exited(60) == EXIT_STORAGE

    fs.remount("rw")
    c.start()
    wait_for(lambda: len(stored(database)[0]) == 53, 60, 0.2, what="all 53 events")
    assert stored(database) == (list(range(1, 54)), list(range(1, 54)))


def test_space_back_within_the_grace_resumes_without_a_restart(rig):
    fs, database, collector, site = rig
    c = collector(grace_s=120)
    proc = c.start()
    site.events(3)
    wait_for(lambda: len(stored(database)[0]) == 3, 20, what="the first events")

    fs.fill()
    site.events(40)
    wait_for(failing(c, "full"), 20, 0.1, what="/healthz to report the full disk")
    assert stored(database)[0] == [1, 2, 3]

    fs.free()  # the store comes back: the worker's retry opens it afresh
    wait_for(lambda: c.health()["ok"], 30, 0.1, what="/healthz to be ok again")
    wait_for(lambda: len(stored(database)[0]) == 43, 30, 0.2, what="the held events")
    assert stored(database) == (list(range(1, 44)), list(range(1, 44)))
    assert proc.poll() is None  # no restart was needed


def test_locked_database_beyond_its_timeout_holds_messages(rig):
    fs, database, collector, site = rig
    c = collector(grace_s=120)
    c.start()
    site.events(2)
    wait_for(lambda: len(stored(database)[0]) == 2, 20, what="the first events")

    other = sqlite3.connect(database, timeout=30, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another writer holds the database
    try:
        site.events(20)
        wait_for(failing(c, "locked"), 30, 0.2, what="/healthz to report the lock")
    finally:
        other.execute("ROLLBACK")
        other.close()
    wait_for(lambda: c.health()["ok"], 30, 0.2, what="/healthz to be ok again")
    wait_for(lambda: len(stored(database)[0]) == 22, 30, 0.2, what="the held events")
    assert stored(database) == (list(range(1, 23)), list(range(1, 23)))


def test_poison_records_are_skipped_by_the_workflow_and_shown_as_placeholders(
        tmp_path, mosquitto, parkwatch_exe, page):
    """Before: one outage whose start was -1e13 made the workflow worker fail every tick
    for good (no later incident got a ticket), the board showed "Invalid time value", and
    an infinite time made every listing of incidents and outages answer 500."""
    from collector.store import Store
    from collector.web.auth import Users
    from tests.console_fixtures import PASSWORD
    from tests.helpers import admin_headers
    from tests.workflow.test_business_time import ts

    database = tmp_path / "collector.db"
    ids = seed_poison(database, ts("2026-03-02 10:00"))
    with sqlite3.connect(database) as db:  # still open: the ingest worker resumes it
        db.execute("UPDATE outages SET ended_at = NULL WHERE started_at = 'NaN'")
    Users(Store(database).db).add("seat1", PASSWORD, "seat", None)
    headers = admin_headers(database)
    c = CollectorProc(parkwatch_exe, tmp_path, mosquitto, database, 30)
    c.start()
    try:
        assert c.health()["ok"] and "not resuming outage" in c.log_text()
        tickets = wait_for(lambda: c.api.get("/api/workflow/incidents", headers=headers).json(),
                           30, 0.2, what="a ticket for the good incident")
        assert [t["incident_id"] for t in tickets] == [ids[-1]]  # the poison ones skipped
        assert "skipped incident" in c.log_text()
        for path in ("/api/incidents", "/api/outages", *(f"/api/incidents/{i}" for i in ids),
                     "/api/projects/P1/budget?year=2026", "/api/workflow/incidents"):
            r = c.api.get(path, headers=headers)
            assert r.status_code == 200, (path, r.text)
        by_id = {i["id"]: i for i in c.api.get("/api/incidents", headers=headers).json()}
        assert by_id[ids[2]]["opened_at"] is None  # infinity has no JSON: null

        # A ticket whose own time is poison (as a damaged row would have it) on the board.
        with sqlite3.connect(database) as db:
            db.execute("UPDATE wf_tickets SET opened_at = -1e13")
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        sign_in(page, str(c.api.base_url).rstrip("/"))
        row = page.locator("#incidents tr[data-incident]")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("—")
        page.goto(f"{str(c.api.base_url).rstrip('/')}/incidents/{tickets[0]['id']}")
        expect(page.locator("#timeline")).to_be_visible()
        assert "Invalid time value" not in page.content()
        assert errors == []
    finally:
        c.stop()


@pytest.mark.parametrize("value, problem", [("-1", "at least 0"), ('"soon"', "a number"),
                                            ("inf", "finite")])
def test_storage_grace_s_is_checked(tmp_path, value, problem):
    from collector import config

    path = tmp_path / "collector.toml"
    path.write_text(f'broker = "mqtt://127.0.0.1:1883"\ndatabase = "{tmp_path / "c.db"}"\n'
                    f"storage_grace_s = {value}\n")
    with pytest.raises(config.ConfigError, match=f"storage_grace_s.*{problem}"):
        config.load(path)
    path.write_text(f'broker = "mqtt://127.0.0.1:1883"\ndatabase = "{tmp_path / "c.db"}"\n')
    assert config.load(path).storage_grace_s == 30.0


def test_a_dead_worker_thread_is_a_reason_to_exit(tmp_path, mosquitto):
    from collector.config import CollectorConfig
    from collector.service import EXIT_THREAD, Collector
    from parkwatch.core.broker import Broker

    collector = Collector(CollectorConfig(broker=Broker("127.0.0.1", mosquitto.port),
                                          mqtt=mosquitto.collector_mqtt(),
                                          database=tmp_path / "c.db", api_port=0))
    collector.start()
    try:
        assert collector.problem(time.monotonic()) is None
        collector.workflow._stop.set()  # the workflow's threads end, as a dying one would
        code, why = wait_for(lambda: collector.problem(time.monotonic()), 20,
                             what="the watchdog to notice")
        assert code == EXIT_THREAD and "thread died" in why
    finally:
        collector.stop()
