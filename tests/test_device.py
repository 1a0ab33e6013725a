from agent.device import DeviceMonitor, Reading

OK, MOTOR = Reading("ok"), Reading("fault", "motor")


def test_offline_after_n_failures_dated_from_the_first():
    m = DeviceMonitor("gate", offline_after=3)
    assert m.observe(0.0, OK).state == "ok"
    assert m.observe(1.0, None) is None
    assert m.observe(2.0, None) is None
    change = m.observe(3.0, None)
    assert (change.prev, change.state, change.since) == ("ok", "offline", 1.0)
    assert m.observe(4.0, None) is None  # one event per change
    back = m.observe(5.0, OK)
    assert (back.prev, back.state, back.since) == ("offline", "ok", 5.0)


def test_a_single_answer_resets_the_failure_count():
    m = DeviceMonitor("gate", offline_after=2)
    m.observe(0.0, OK)
    m.observe(1.0, None)
    m.observe(2.0, OK)
    assert m.observe(3.0, None) is None


def test_fault_codes_change_state_and_each_new_code_is_a_change():
    m = DeviceMonitor("gate")
    m.observe(0.0, OK)
    assert m.observe(1.0, MOTOR).fault == "motor"
    assert m.observe(2.0, MOTOR) is None
    assert m.observe(3.0, Reading("fault", "anti_crush")).prev == "fault"
    assert m.observe(4.0, OK).state == "ok"
