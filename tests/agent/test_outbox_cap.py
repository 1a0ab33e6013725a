"""Fill the outbox to its cap during an outage: the drop policy holds and the number of
dropped records is reported once the link is back (real mosquitto, real SQLite)."""

import time

import pytest

from agent.config import AgentConfig
from agent.service import Agent
from parkwatch.core.broker import Broker
from tests.agent_support import Recorder, durable_mosquitto
from tests.helpers import wait_for

CAP_MB = 0.004  # 4,000 bytes: about a dozen events


@pytest.fixture
def broker(tmp_path):
    b = durable_mosquitto(tmp_path / "mosquitto").start()
    yield b
    b.stop()


def test_a_full_outbox_drops_by_priority_and_reports_the_count(tmp_path, broker):
    recorder = Recorder(broker, durable=True)
    login = broker.site_mqtt("p1", "lot-1", reconnect_min_s=0.1, reconnect_max_s=0.3,
                             connect_timeout_s=2)
    broker.stop()  # the uplink is down before the agent starts
    agent = Agent(AgentConfig(
        project="p1", site="lot-1", broker=Broker("127.0.0.1", broker.port),
        state_dir=tmp_path / "state", heartbeat_interval_s=0.5, outbox_max_mb=CAP_MB,
        mqtt=login))
    agent.start()
    try:
        cap = agent.outbox.max_bytes
        emitted = []
        for i in range(6):   # six faults: these must all survive
            ev = agent._event("device_state", device=f"gate-{i}", state="fault", prev="ok",
                              fault="motor", since=time.time())
            agent.emit(ev)
            emitted.append(("device_state", f"gate-{i}", "fault"))
        for i in range(30):  # then a storm of intercom presses and loop timeouts
            agent.emit(agent._event("intercom" if i % 2 else "loop_timeout", device="gate-0",
                                    detail={"lane": "in", "n": i}))
            emitted.append(("intercom" if i % 2 else "loop_timeout", "gate-0", None))
            assert agent.outbox.bytes <= cap
        for i in range(3):   # recoveries outrank the operational alerts
            agent.emit(agent._event("device_state", device=f"gate-{i}", state="ok",
                                    prev="fault", since=time.time()))
            emitted.append(("device_state", f"gate-{i}", "ok"))
        assert agent.outbox.bytes <= cap
        kinds = [r.kind for r in agent.outbox.pending(0, 1000)]
        assert kinds.count("device_state") == 9, "every fault and recovery is kept"
        dropped = len(emitted) - len(kinds)
        assert dropped > 0 and agent.outbox.pending_dropped() == dropped

        broker.start()
        [report] = wait_for(lambda: recorder.events("dropped"), 15, what="the dropped report")
        wait_for(lambda: agent.outbox.depth == 0, 10, what="the outbox to drain")
        # What was kept, less what the reconnect's own records pushed out, reaches us.
        expected = len(kinds) - (report.detail["count"] - dropped)

        def delivered_events():
            return [e for e in recorder.first_deliveries() if e.kind not in ("dropped",
                                                                             "uplink")]

        delivered = wait_for(lambda: len(delivered_events()) >= expected and
                             delivered_events(), 10, what="every kept event at the recorder")
        # The uplink record and the report itself are stored on reconnect, into the full
        # outbox, and push out more alerts: the report counts those too.
        assert report.detail["count"] == len(emitted) - len(delivered) >= dropped
        assert sum(report.detail["by_kind"].values()) == report.detail["count"]
        assert set(report.detail["by_kind"]) <= {"intercom", "loop_timeout"}
        assert recorder.events("uplink"), "the uplink record was kept"
        assert sorted(e.device for e in delivered if e.state == "fault") == \
            [f"gate-{i}" for i in range(6)]
        assert len([e for e in delivered if e.state == "ok"]) == 3
        assert all(e.historical for e in delivered)
        dropped = report.detail["count"]
        # The live heartbeat tells the same story.
        wait_for(lambda: any(h.health and h.health.get("dropped_total") == dropped
                             for h in recorder.of(type(agent.heartbeat()))), 5,
                 what="a heartbeat with the drop count")
    finally:
        agent.stop()
        recorder.close()
