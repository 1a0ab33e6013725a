"""Heard spans (collector/tracking/heard.py) and what they do to uplink records in the tracker."""

from __future__ import annotations

from collector.tracking.heard import MAX_SPANS, HeardSpans
from collector.tracking.outages import OutageRevised, OutageStarted
from collector.tracking.tracker import Tracker
from parkwatch.core import wire


def test_one_span_per_connection_while_its_heartbeats_keep_coming():
    h = HeardSpans()
    for t in (0.0, 1.0, 2.0):
        h.add(1, t, 2.0)
    h.add(1, 10.0, 2.0)  # a gap: the collector did not hear it in between
    h.add(2, 11.0, 2.0)  # a new connection
    assert h.spans == [[1, 0.0, 2.0], [1, 10.0, 10.0], [2, 11.0, 11.0]]
    for i in range(MAX_SPANS + 5):
        h.add(3 + i, 100.0 + i, 2.0)
    assert len(h.spans) == MAX_SPANS


def test_clip_keeps_the_longest_unheard_part():
    h = HeardSpans()
    h.spans = [[1, 10.0, 20.0], [2, 30.0, 31.0]]
    assert h.clip(0.0, 5.0) == (0.0, 5.0)
    assert h.clip(12.0, 18.0) is None
    assert h.clip(5.0, 15.0) == (5.0, 10.0)
    assert h.clip(15.0, 40.0) == (20.0, 30.0)
    assert h.clip(0.0, 100.0) == (31.0, 100.0)


def hb(ts, boot=1, seq=1):
    return wire.Heartbeat("p", "s", boot, seq, ts, 1.0, {})


def record(boot, start, end, seq=1):
    return wire.Event("p", "s", boot, seq, end, "uplink", historical=True,
                      detail={"start": start, "end": end, "cause": "dns", "lost": "closed"})


def test_a_record_over_heard_time_changes_nothing_and_one_beside_it_is_trimmed():
    t = Tracker(threshold_s=5, silence_factor=3)
    for i in range(30):
        t.receive(hb(float(i), seq=i + 1), float(i))  # heard 0-29 s, one connection
    out = t.receive(record(1, 5.0, 25.0), 30.0)
    assert [type(d).__name__ for d in out] == ["SiteEvent"]  # journaled, believed in nothing
    assert not t.sites[("p", "s")].recent
    t.tick(33.0)  # silent since 29: down
    t.receive(hb(40.0, boot=2), 40.0)
    out = t.receive(record(2, 20.0, 40.0, seq=3), 40.1)  # starts inside heard time
    [o] = [d.outage for d in out if isinstance(d, OutageRevised)]
    assert (o.started_at, o.ended_at) == (29.0, 40.0)
    assert not [d for d in out if isinstance(d, OutageStarted)]
