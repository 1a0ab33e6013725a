"""The broker goes away for longer than the threshold: everything arrives, in order, and
the agent's uplink record matches the real cut within a second."""

import signal
import time

import pytest

from parkwatch.core import wire
from simulators.barrier import BarrierSim
from tests.agent_support import (
    Recorder,
    agent_toml,
    durable_mosquitto,
    outbox_events,
    start_agent,
)
from tests.helpers import wait_for

THRESHOLD_S = 2.0


@pytest.fixture
def broker(tmp_path):
    b = durable_mosquitto(tmp_path / "mosquitto").start()
    yield b
    b.close()


def test_broker_outage_replays_in_order_and_the_uplink_record_matches_the_cut(
        tmp_path, broker, parkwatch_exe):
    sim = BarrierSim().start()
    recorder = Recorder(broker, durable=True)
    state = tmp_path / "state"
    agent = start_agent(parkwatch_exe, agent_toml(tmp_path, broker,
                                                  devices=[("gate-in", sim.path)]),
                        tmp_path / "agent.log")
    try:
        wait_for(lambda: recorder.events("device_state"), 15, what="the gate's first state")
        wait_for(lambda: not outbox_events(state), 10, what="the live event acknowledged")

        cut = time.time()
        broker.stop()
        # While the broker is away the gate faults and recovers three times.
        for i in range(3):
            sim.set_fault("motor")
            wait_for(lambda i=i: len(outbox_events(state)) >= 2 * i + 1, 10, what="a fault")
            sim.set_fault(None)
            wait_for(lambda i=i: len(outbox_events(state)) >= 2 * i + 2, 10, what="a recovery")
        time.sleep(max(0.0, cut + THRESHOLD_S + 1.0 - time.time()))
        # The recorder must be back before the agent replays: a broker may deliver what it
        # queued for an offline session out of order with what arrives meanwhile (mosquitto
        # 2.0 does), and the order under test is the agent's. Freeze the agent meanwhile.
        agent.send_signal(signal.SIGSTOP)
        recorder.subscribed.clear()
        broker.start()
        wait_for(recorder.subscribed.is_set, 10, what="the recorder back")
        agent.send_signal(signal.SIGCONT)
        back = time.time()  # the broker is reachable for the agent from here

        [up] = wait_for(lambda: recorder.events("uplink"), 15, what="the uplink record")
        wait_for(lambda: len([e for e in recorder.first_deliveries()
                              if e.kind == "device_state"]) >= 7, 10, what="the replay")
        d = up.detail
        assert abs(d["start"] - cut) <= 1.0, (d, cut)
        assert abs(d["end"] - back) <= 1.0, (d, back)
        assert abs(d["duration_s"] - (back - cut)) <= 1.0
        assert d["cause"] == "tcp_connect" and d["lost"] == "closed" and d["attempts"] >= 1
        assert not up.historical  # made after reconnecting, sent live

        events = recorder.first_deliveries()
        ids = [(e.boot, e.seq) for e in events]
        assert ids == sorted(ids), "events arrived out of order"
        states = [e.state for e in events if e.kind == "device_state"]
        assert states == ["ok", "fault", "ok", "fault", "ok", "fault", "ok"]
        replayed = [e for e in events if e.kind == "device_state"][1:]
        assert all(e.historical for e in replayed)
        assert all(cut <= e.since <= back for e in replayed)
        wait_for(lambda: not outbox_events(state), 10, what="acknowledged events to leave")
    finally:
        agent.send_signal(signal.SIGCONT)
        agent.terminate()
        agent.wait(10)
        recorder.close()
        sim.stop()


def test_a_blackhole_is_dated_by_the_last_heartbeat_echo_not_by_keepalive(tmp_path, broker):
    """SIGSTOP freezes the broker: TCP stays up, nothing answers; only keepalive notices."""
    from agent.config import AgentConfig
    from agent.service import Agent
    from parkwatch.core.broker import Broker

    recorder = Recorder(broker, durable=True)
    agent = Agent(AgentConfig(
        project="p1", site="lot-1", broker=Broker("127.0.0.1", broker.port, keepalive_s=2),
        state_dir=tmp_path / "state", heartbeat_interval_s=0.3,
        mqtt=broker.site_mqtt("p1", "lot-1", reconnect_min_s=0.1, reconnect_max_s=0.3,
                              connect_timeout_s=1)))
    agent.start()
    try:
        wait_for(agent.connected.is_set, 10, what="the agent to connect")
        wait_for(lambda: len(recorder.of(wire.Heartbeat)) >= 3, 10,
                 what="a few heartbeats through the broker (their echoes date the cut)")
        cut = time.time()
        broker.proc.send_signal(signal.SIGSTOP)
        wait_for(lambda: not agent.connected.is_set(), 10, what="keepalive to notice")
        noticed = time.time()
        assert noticed - cut >= 1.5, "only keepalive can notice a blackhole"
        time.sleep(0.5)  # the blackhole lasts a little past the notice (a scripted length)
        broker.proc.send_signal(signal.SIGCONT)
        back = time.time()
        [up] = wait_for(lambda: recorder.events("uplink"), 15, what="the uplink record")
        d = up.detail
        assert d["lost"] == "keepalive"
        assert abs(d["start"] - cut) <= 1.0, (d["start"] - cut, noticed - cut)
        assert abs(d["end"] - back) <= 1.5
    finally:
        if broker.proc.poll() is None:
            broker.proc.send_signal(signal.SIGCONT)
        agent.stop()
        recorder.close()


def test_the_record_ends_at_connack_however_long_the_agent_then_takes(tmp_path, broker):
    """The link comes back while another thread holds the agent's lock (an event being
    written on a slow disk holds it as long as its fsync takes): the record ends when the
    broker accepted the agent, not when the agent got round to writing that down."""
    from agent.config import AgentConfig
    from agent.service import Agent
    from parkwatch.core.broker import Broker

    recorder = Recorder(broker, durable=True)
    agent = Agent(AgentConfig(
        project="p1", site="lot-1", broker=Broker("127.0.0.1", broker.port),
        state_dir=tmp_path / "state", heartbeat_interval_s=0.3,
        mqtt=broker.site_mqtt("p1", "lot-1", reconnect_min_s=0.1, reconnect_max_s=0.3,
                              connect_timeout_s=1)))
    agent.start()
    busy_s = 3.0
    try:
        wait_for(agent.connected.is_set, 10, what="the agent to connect")
        broker.stop()
        wait_for(lambda: not agent.connected.is_set(), 10, what="the agent to see the cut")
        with agent._lock:  # the slow write, in progress while the broker comes back
            broker.start()
            back = time.time()  # it reconnects within reconnect_max_s of this
            time.sleep(busy_s)  # the write's scripted length
        [up] = wait_for(lambda: recorder.events("uplink"), 15, what="the uplink record")
        assert up.detail["end"] - back <= 1.0, (up.detail, back)
    finally:
        agent.stop()
        recorder.close()
