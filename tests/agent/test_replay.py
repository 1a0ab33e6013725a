"""kill -9 with events in the outbox, restart: every event reaches the collector once."""

import signal
import sqlite3

from collector.config import CollectorConfig
from collector.service import Collector
from parkwatch.core.broker import Broker
from simulators.barrier import BarrierSim
from tests.agent_support import Recorder, agent_toml, outbox_events, start_agent
from tests.helpers import fleet, wait_for


def collector_seen(db_path):
    db = sqlite3.connect(db_path, timeout=5)
    try:
        return {(b, s) for b, s in db.execute(
            "SELECT boot, seq FROM seen_events WHERE project = 'p1' AND site = 'lot-1'")}
    finally:
        db.close()


def test_kill_9_with_a_full_outbox_then_restart_delivers_each_event_once(
        tmp_path, mosquitto, parkwatch_exe):
    sim = BarrierSim().start()
    collector = Collector(CollectorConfig(
        broker=Broker("127.0.0.1", mosquitto.port), database=tmp_path / "collector.db",
        outage_threshold_s=2.0, api_port=0, mqtt=mosquitto.collector_mqtt(),
        projects=fleet()))
    collector.start()
    collector.ingest.client.reconnect_delay_set(0.1, 0.5)
    cfg = agent_toml(tmp_path, mosquitto, devices=[("gate-in", sim.path)])
    state, log = tmp_path / "state", tmp_path / "agent.log"
    agent = start_agent(parkwatch_exe, cfg, log)
    try:
        wait_for(lambda: collector_seen(tmp_path / "collector.db"), 15,
                 what="the first live event at the collector")
        wait_for(lambda: not outbox_events(state), 10, what="the live event acknowledged")
        live = collector_seen(tmp_path / "collector.db")

        # The uplink goes (the broker stops); things happen; the agent is killed.
        mosquitto.stop()
        sim.set_fault("motor")
        wait_for(lambda: len(outbox_events(state)) >= 1, 10, what="the fault in the outbox")
        sim.set_fault(None)
        wait_for(lambda: len(outbox_events(state)) >= 2, 10, what="the recovery in the outbox")
        agent.send_signal(signal.SIGKILL)
        agent.wait(10)
        stored = outbox_events(state)
        assert [(e["kind"], e["state"]) for e in stored] == \
            [("device_state", "fault"), ("device_state", "ok")]
        assert all(e["boot"] >= 1 and e["seq"] >= 1 for e in stored)

        # The uplink is back and systemd restarts the agent.
        mosquitto.start()
        wait_for(collector.ingest.connected.is_set, 30, what="the collector to reconnect")
        recorder = Recorder(mosquitto)
        agent = start_agent(parkwatch_exe, cfg, log)
        expected = {(e["boot"], e["seq"]) for e in stored}
        wait_for(lambda: expected <= collector_seen(tmp_path / "collector.db"), 20,
                 what="the stored events at the collector")
        wait_for(lambda: not outbox_events(state), 10, what="the outbox to empty")

        seen = collector_seen(tmp_path / "collector.db")
        assert live <= seen and expected <= seen
        assert collector.ingest.duplicates == 0
        # Exactly one record of the fault, dated when it happened, not when it arrived.
        db = sqlite3.connect(tmp_path / "collector.db")
        faults = db.execute("SELECT started_at, ended_at FROM outages "
                            "WHERE kind = 'device_fault' AND device = 'gate-in'").fetchall()
        db.close()
        assert len(faults) == 1
        # (the collector maps gateway time through its clock-offset estimate: a few ms here)
        assert abs(faults[0][0] - stored[0]["since"]) < 0.5 and faults[0][1] is not None
        # Replayed events say they are history; the new process also reported the uplink
        # period the killed one was in, ending at its last failed attempt.
        replayed = wait_for(lambda: [e for e in recorder.events("device_state")
                                     if (e.boot, e.seq) in expected], 10,
                            what="the replay at the recorder too")
        assert all(e.historical for e in replayed)
        [up] = wait_for(lambda: recorder.events("uplink"), 10, what="the uplink record")
        assert up.detail["interrupted"] is True and up.detail["lost"] == "closed"
        assert up.detail["cause"] in ("keepalive_loss", "tcp_connect")
        assert up.detail["start"] <= stored[0]["ts"] and up.detail["end"] >= up.detail["start"]
        recorder.close()
        assert "Traceback" not in log.read_text()
    finally:
        if agent.poll() is None:
            agent.terminate()
            agent.wait(10)
        collector.stop()
        sim.stop()
