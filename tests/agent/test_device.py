"""The per-device state machine on a virtual clock: states, loop timeouts, intercom calls."""

from agent.device import Change, DeviceMonitor, IntercomCall, LoopTimeout, Reading

OK, MOTOR = Reading("ok"), Reading("fault", "motor", "critical")


def car(*channels, **kw):
    return Reading("occupied", occupied=frozenset(channels), **kw)


def one(outputs, kind=Change):
    matching = [o for o in outputs if isinstance(o, kind)]
    assert len(matching) == 1, outputs
    return matching[0]


def test_offline_after_n_failures_dated_from_the_first():
    m = DeviceMonitor("gate", offline_after=3)
    assert one(m.observe(0.0, OK)).state == "ok"
    assert m.observe(1.0, None) == []
    assert m.observe(2.0, None) == []
    change = one(m.observe(3.0, None))
    assert (change.prev, change.state, change.since) == ("ok", "offline", 1.0)
    assert m.observe(4.0, None) == []  # one event per change
    back = one(m.observe(5.0, OK))
    assert (back.prev, back.state, back.since) == ("offline", "ok", 5.0)


def test_a_single_answer_resets_the_failure_count():
    m = DeviceMonitor("gate", offline_after=2)
    m.observe(0.0, OK)
    m.observe(1.0, None)
    m.observe(2.0, OK)
    assert m.observe(3.0, None) == []


def test_fault_codes_change_state_and_each_new_code_is_a_change():
    m = DeviceMonitor("gate")
    m.observe(0.0, OK)
    fault = one(m.observe(1.0, MOTOR))
    assert (fault.fault, fault.severity) == ("motor", "critical")
    assert m.observe(2.0, MOTOR) == []
    assert one(m.observe(3.0, Reading("fault", "anti_crush", "major"))).prev == "fault"
    assert one(m.observe(4.0, OK)).state == "ok"
    assert m.report() == {"state": "ok", "fault": None, "since": 4.0, "severity": None}


def test_a_loop_occupied_longer_than_the_timeout_is_reported_once_with_lane_and_start():
    m = DeviceMonitor("loop-1", lane="in-1", loop_timeout_s=60)
    m.observe(0.0, OK)
    assert one(m.observe(10.0, car("2"))).state == "occupied"
    for t in range(11, 71):
        assert not [o for o in m.observe(float(t), car("2")) if isinstance(o, LoopTimeout)]
    timeout = one(m.observe(70.5, car("2")), LoopTimeout)
    assert (timeout.lane, timeout.channel, timeout.since, timeout.at) == ("in-1", "2", 10.0, 70.5)
    assert m.observe(80.0, car("2")) == []  # once per occupancy
    m.observe(81.0, OK)
    m.observe(82.0, car("2"))
    assert one(m.observe(142.5, car("2")), LoopTimeout).since == 82.0  # a new car, a new clock


def test_each_channel_has_its_own_clock_and_a_short_visit_is_not_a_timeout():
    m = DeviceMonitor("loop", loop_timeout_s=5)
    m.observe(0.0, car("1"))
    m.observe(3.0, car("1", "2"))
    assert one(m.observe(5.5, car("1", "2")), LoopTimeout).channel == "1"
    assert one(m.observe(8.5, car("1", "2")), LoopTimeout).channel == "2"
    m.observe(9.0, car("3"))
    assert not [o for o in m.observe(13.0, OK) if isinstance(o, LoopTimeout)]  # gone after 4 s


def test_going_offline_forgets_the_loop_so_the_timeout_does_not_fire_on_stale_data():
    m = DeviceMonitor("loop", offline_after=1, loop_timeout_s=5)
    m.observe(0.0, car("1"))
    m.observe(1.0, None)
    assert not [o for o in m.observe(7.0, car("1")) if isinstance(o, LoopTimeout)]


def test_an_intercom_press_is_one_call_until_the_button_is_released():
    m = DeviceMonitor("gate-in", lane="in-1")
    m.observe(0.0, OK)
    call = one(m.observe(1.0, Reading("ok", intercom=frozenset({None}))), IntercomCall)
    assert (call.device, call.lane, call.at) == ("gate-in", "in-1", 1.0)
    assert m.observe(2.0, Reading("ok", intercom=frozenset({None}))) == []
    m.observe(3.0, OK)
    assert one(m.observe(4.0, Reading("ok", intercom=frozenset({None}))), IntercomCall).at == 4.0
