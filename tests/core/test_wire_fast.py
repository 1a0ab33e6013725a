"""The heartbeat fast path of ``wire.decode`` accepts exactly what the full checks accept
and builds the same object; for anything else it steps aside (the full checks say why)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from parkwatch.core import wire, wirefast

ODD = st.one_of(st.none(), st.booleans(), st.integers(-3, 2**64), st.floats(allow_nan=True),
                st.text(max_size=3), st.just("ok"), st.just("major"), st.lists(st.none()),
                st.just(float("inf")), st.just(1e10), st.just(1e10 + 1), st.just(0.1),
                st.just(3600.0), st.just(0.09))
DEVICE = st.dictionaries(st.sampled_from(["state", "fault", "since", "severity", "x"]),
                         st.one_of(ODD, st.sampled_from(wire.DEVICE_STATES),
                                   st.text(min_size=199, max_size=202)), max_size=4)
BODY = st.fixed_dictionaries(
    {}, optional={"boot": ODD, "seq": ODD, "ts": ODD, "interval_s": ODD, "health": ODD,
                  "devices": st.one_of(ODD, st.dictionaries(
                      st.sampled_from(["gate-1", "cam", "", "bad id", "x" * 65, "a\n"]),
                      st.one_of(DEVICE, ODD), max_size=3))})


def fast(d):
    return wirefast.heartbeat(d, wire.DEVICE_STATES, wire.SEVERITIES, wire.DeviceReport,
                              wire.Heartbeat)


@settings(max_examples=3000, deadline=None)
@given(BODY)
def test_the_fast_path_never_accepts_what_the_full_checks_refuse(body):
    d = {"v": 1, "project": "p", "site": "s", **body}
    try:
        full = wire.Heartbeat.from_dict(d)
    except wire.WireError:
        full = None
    got = fast(d)
    if got is not None:
        assert full == got and type(got.ts) is float and type(got.interval_s) is float
        for rep in got.devices.values():
            assert rep.since is None or type(rep.since) is float


def test_a_plain_heartbeat_takes_the_fast_path_and_decodes_as_before():
    d = {"v": 1, "project": "p", "site": "s", "boot": 2, "seq": 9, "ts": 1700000000,
         "interval_s": 10, "health": {"cpu": 1},
         "devices": {"gate-1": {"state": "ok"},
                     "cam": {"state": "fault", "fault": "lens", "since": 1699999999,
                             "severity": "major"}}}
    got = fast(d)
    assert got is not None and got == wire.Heartbeat.from_dict(d)
    assert wire.decode("parkwatch/v1/p/s/heartbeat", json.dumps(d).encode()) == got
