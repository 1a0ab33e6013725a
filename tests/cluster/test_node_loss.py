"""kill -9 of the NATS node an agent is connected to: the agent moves to the next node of its
list, and the event it had to keep meanwhile reaches the collector (on another node) once:
not lost, not stored twice. The Will the dead node held is never published."""

from __future__ import annotations

import time

import httpx

from parkwatch.core import wire
from simulators.barrier import BarrierSim
from tests.agent_support import Recorder, outbox_events, start_agent
from tests.cluster.conftest import agent_config, collector_on, stored
from tests.helpers import wait_for

A, B, C = 0, 1, 2  # the agent's node, the collector's, the third


def accepted_by(log, node, offset: int = 0) -> bool:
    with open(log, "rb") as f:
        f.seek(offset)
        text = f.read().decode(errors="replace")
    return f"broker 127.0.0.1:{node.mqtt_port} accepted us" in text


def fault_outages(api) -> list[dict]:
    return [o for o in api.get("/api/outages").json()
            if o["site"] == "lot-1" and o.get("device") == "gate-in"]


def test_a_killed_node_moves_the_agent_on_and_its_queued_event_arrives_once(
        tmp_path, nats_cluster, parkwatch_exe):
    cluster = nats_cluster
    sim = BarrierSim().start()
    db = tmp_path / "collector.db"
    collector = collector_on(cluster, B, db)
    # durable: node B too may close connections while JetStream elects leaders
    recorder = Recorder(cluster.nodes[B].mqtt_port, durable=True,
                        username=cluster.collector_username,
                        password=cluster.collector_password)
    log = tmp_path / "agent.log"
    agent = start_agent(parkwatch_exe, agent_config(tmp_path, cluster, "lot-1", [A, C, B],
                                                    devices=(("gate-in", sim.path),)), log)
    api = httpx.Client(base_url=f"http://127.0.0.1:{collector.port}", timeout=5)
    try:
        wait_for(lambda: accepted_by(log, cluster.nodes[A]), 20, what="the agent on node A")
        wait_for(lambda: [d for s in api.get("/api/sites").json() if s["site"] == "lot-1"
                          for d in s["devices"] if d["state"] == "ok"], 20,
                 what="lot-1's gate ok at the collector")
        [ok] = wait_for(lambda: recorder.events("device_state"), 10, what="the gate's ok event")
        wait_for(lambda: stored(db, "lot-1", ok.boot, ok.seq), 10,
                 what="the collector's QoS 1 subscription at work")

        offset = log.stat().st_size
        cluster.kill(A)
        killed, t0 = time.time(), time.monotonic()
        sim.set_fault("motor")  # the agent keeps this event until a node acknowledges it
        # C is next in its list; should C time out while JetStream elects leaders, B is
        wait_for(lambda: accepted_by(log, cluster.nodes[C], offset)
                 or accepted_by(log, cluster.nodes[B], offset), 30,
                 what="the agent on another node")
        moved_s = time.monotonic() - t0
        [outage] = wait_for(lambda: fault_outages(api), 30, what="the gate's fault outage")
        arrived_s = time.monotonic() - t0
        wait_for(lambda: not outbox_events(tmp_path / "state"), 15, what="an empty outbox")
        print(f"\nnode A killed: agent accepted by another node after {moved_s:.1f} s, "
              f"the fault stored after {arrived_s:.1f} s")

        # The recorder is another subscriber, on node B: its copy may come after the store's.
        faults = wait_for(lambda: [e for e in recorder.events("device_state")
                                   if e.state == "fault"], 15, what="the recorder's fault event")
        assert faults[0].ts >= killed - 0.5, (faults, killed)  # it happened after the kill
        assert {(e.boot, e.seq) for e in faults} == {(faults[0].boot, faults[0].seq)}
        assert outage["ended_at"] is None and len(fault_outages(api)) == 1
        # (the outage may come first from a heartbeat, which carries the device states)
        wait_for(lambda: stored(db, "lot-1", faults[0].boot, faults[0].seq) == 1, 15,
                 what="the fault event stored")
        # The agent reports the seconds it could not publish, as uplink periods.
        uplinks = wait_for(lambda: recorder.events("uplink"), 10, what="an uplink record")
        assert all(e.detail["duration_s"] < 30 for e in uplinks)
        # The Will of the connection on node A died with the node. While JetStream elects
        # new leaders, a surviving node may close a fresh connection on an internal
        # timeout and publish *that* one's Will (docs/scale.md); the agent is back at once.
        first = recorder.of(wire.Status)[0]
        wills = [s for s in recorder.of(wire.Status) if s.reason == "will"]
        assert first.state == "online" and first.boot not in {w.boot for w in wills}
        wait_for(lambda: recorder.of(wire.Status)[-1].state == "online", 15,
                 what="lot-1 online again")
    finally:
        agent.terminate()
        agent.wait(10)
        recorder.close()
        collector.stop()
        sim.stop()
        api.close()
