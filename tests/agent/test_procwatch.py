"""Watching the parking software: the pure state machine, then real processes."""

import subprocess
import sys
import uuid

from agent.config import ProcessConfig
from agent.procwatch import ProcessScanner, ProcessWatch, Seen
from parkwatch.core import wire
from tests.helpers import wait_for


def test_running_at_start_is_ok_since_it_started():
    w = ProcessWatch(["park"])
    [c] = w.observe(100.0, {"park": [Seen(42, 50.0, "sleeping", "parkd --lane 1")]})
    assert (c.process, c.prev, c.state, c.since) == ("park", "unknown", "ok", 50.0)
    assert c.detail["pid"] == 42
    assert w.observe(102.0, {"park": [Seen(42, 50.0, "running")]}) == []


def test_missing_is_a_fault_with_what_was_known_and_back_is_ok():
    w = ProcessWatch(["park"])
    w.observe(100.0, {"park": [Seen(42, 50.0, "sleeping", "parkd")]})
    [down] = w.observe(104.0, {"park": []})
    assert (down.prev, down.state, down.since) == ("ok", "fault", 104.0)
    assert down.detail == {"process": "park", "pid": 42, "cmdline": "parkd", "started": 50.0,
                           "ran_for_s": 50.0, "last_seen": 100.0, "reason": "exited"}
    assert w.observe(106.0, {"park": []}) == []  # one fault per outage
    [up] = w.observe(108.0, {"park": [Seen(77, 107.5, "running", "parkd")]})
    assert (up.prev, up.state, up.since, up.detail["pid"]) == ("fault", "ok", 107.5, 77)


def test_a_zombie_or_stopped_process_is_not_running():
    w = ProcessWatch(["park"])
    w.observe(100.0, {"park": [Seen(42, 50.0, "sleeping")]})
    [down] = w.observe(102.0, {"park": [Seen(42, 50.0, "zombie")]})
    assert down.state == "fault" and down.detail["status"] == "zombie"
    w2 = ProcessWatch(["park"])
    [c] = w2.observe(1.0, {"park": [Seen(9, 0.5, "stopped")]})
    assert c.state == "fault" and c.detail["status"] == "stopped"


def test_a_restart_between_two_checks_is_reported_as_both():
    w = ProcessWatch(["park"])
    w.observe(100.0, {"park": [Seen(42, 50.0, "sleeping")]})
    down, up = w.observe(102.0, {"park": [Seen(43, 101.2, "running")]})
    assert (down.state, down.since, down.detail["restarted"], down.detail["new_pid"]) == \
        ("fault", 100.0, True, 43)
    assert (up.state, up.since) == ("ok", 101.2)


def test_not_running_when_the_agent_starts():
    [c] = ProcessWatch(["park"]).observe(5.0, {})
    assert (c.prev, c.state, c.detail["reason"]) == ("unknown", "fault",
                                                      "not running when the agent started")


def test_the_oldest_of_several_instances_is_followed():
    w = ProcessWatch(["park"])
    w.observe(10.0, {"park": [Seen(50, 9.0, "running"), Seen(40, 3.0, "running")]})
    # The younger one exiting is not an outage.
    assert w.observe(12.0, {"park": [Seen(40, 3.0, "running")]}) == []


def test_software_changes_are_valid_events():
    w = ProcessWatch(["park"])
    for found in ({"park": [Seen(1, 1.0)]}, {}, {"park": [Seen(2, 3.0)]}):
        for c in w.observe(4.0, found):
            ev = wire.Event("p", "s", 1, 1, 4.0, "software", state=c.state, prev=c.prev,
                            since=c.since, detail=c.detail)
            assert wire.decode(wire.topic("p", "s", wire.EVENT), wire.encode(ev)) == ev


def test_the_scanner_finds_a_real_process_and_notices_it_die_and_return():
    marker = f"parkwatch-test-{uuid.uuid4().hex[:8]}"
    code = f"import time  # {marker}\ntime.sleep(60)"
    scanner = ProcessScanner((ProcessConfig("park", cmdline=marker),
                              ProcessConfig("other", process="no-such-process-xyz")))
    watch = ProcessWatch(["park", "other"])
    first = subprocess.Popen([sys.executable, "-c", code])
    try:
        found = wait_for(lambda: scanner.scan()["park"], 10, what="the process in a scan")
        assert found[0].pid == first.pid
        changes = {c.process: c for c in watch.observe(100.0, scanner.scan())}
        assert changes["park"].state == "ok" and changes["other"].state == "fault"
        assert scanner.scan()["park"][0].pid == first.pid  # the cheap path, still right
        first.kill()
        first.wait(5)
        [down] = watch.observe(101.0, scanner.scan())
        assert (down.process, down.state, down.detail["pid"]) == ("park", "fault", first.pid)
        assert marker in down.detail["cmdline"]
        second = subprocess.Popen([sys.executable, "-c", code])
        try:
            wait_for(lambda: scanner.scan()["park"], 10, what="the restarted process")
            [up] = watch.observe(102.0, scanner.scan())
            assert (up.state, up.detail["pid"]) == ("ok", second.pid)
        finally:
            second.kill()
            second.wait(5)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(5)
