"""Uplink cuts through the proxy between a real agent and mosquitto, watched by a real
collector: each cut is one outage whose length matches the cut within a second, incidents
only for cuts longer than the threshold, and every event made during a cut arrives once."""

from __future__ import annotations

import time

from tests.faults.checks import Case
from tests.faults.rig import KEEPALIVE_S, THRESHOLD_S
from tests.helpers import wait_for


def test_cuts_shorter_than_the_threshold_are_outages_without_incidents(rig):
    case = Case(rig, "uplink cut < threshold")
    case.cut(1.0)
    time.sleep(0.5)
    case.cut(THRESHOLD_S - 1.0)
    case.finish(incidents_expected=0)


def test_a_cut_longer_than_the_threshold_is_one_incident_of_its_length(rig):
    case = Case(rig, "uplink cut > threshold")
    case.cut(THRESHOLD_S + 1.5)
    got = case.finish(incidents_expected=1)
    [incident] = got["incidents"]
    [outage] = got["outages"]
    assert incident["outage_id"] == outage["id"] and incident["state"] == "closed"
    assert abs(incident["duration_s"] - (outage["ended_at"] - outage["started_at"])) < 1e-6


def test_flapping_uplink_gives_one_short_outage_per_cut(rig):
    case = Case(rig, "uplink flapping")
    for _ in range(5):
        case.cut(0.5, fault=False)
        time.sleep(0.5)
    case.faults.append(rig.toggle_fault())  # events after the flapping, not lost either
    case.finish(incidents_expected=0)


def test_a_blackhole_only_keepalive_notices_is_dated_from_the_last_echo(rig):
    case = Case(rig, "uplink blackhole")
    closed = rig.proxy.stats.closed_by_client
    t0 = rig.cut("blackhole")
    case.faults.append(rig.toggle_fault())
    # Nothing comes back, not even a reset: only the agent's keepalive can notice.
    wait_for(lambda: rig.proxy.stats.closed_by_client > closed, 4 * KEEPALIVE_S, 0.05,
             what="the agent to give up on the connection")
    noticed = time.time()
    assert noticed - t0 >= KEEPALIVE_S - 0.5, "noticed before keepalive could have"
    t1 = rig.heal()
    case.add_cut(t0, t1)
    case.finish(incidents_expected=1)
    detail = rig.site_events("uplink")[-1]["detail"]
    assert '"lost": "keepalive"' in detail, detail
