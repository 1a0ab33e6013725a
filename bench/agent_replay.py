"""Agent replay: how fast a backlog in the outbox drains once the broker is back.

Fills the outbox of an in-process agent with N events while the broker is down (each
insert is a durable SQLite commit, as in production), then starts the broker and times how
long a subscriber takes to receive them all and the agent to empty its outbox, from the
moment the broker listens again (the agent's reconnect, 0.1-0.2 s, is in the time). The
broker comes back on the same port: it is held across the restart (simulators/ports.py).

The subscriber's session is made before the agent starts, on a broker with persistence, so
nothing the agent sends in the first instant after the broker is back is missed (without it,
an agent retrying every 0.1-0.2 s could publish before the subscription existed, and the run
would wait for events that had already gone).

    .venv/bin/python bench/agent_replay.py [--events 5000] [--timeout 300] [--json FILE]

Prints a table, then the same figures as one JSON object. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent.config import AgentConfig  # noqa: E402
from agent.service import Agent  # noqa: E402
from bench.benchlib import add_json_arg, collector_login, emit, machine_line  # noqa: E402
from parkwatch.core.broker import Broker  # noqa: E402
from simulators.broker import Mosquitto  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=5000)
    ap.add_argument("--timeout", type=float, default=300.0,
                    help="give up waiting for the replay after this many seconds")
    add_json_arg(ap)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # the expected "cannot reach broker" lines
    if not Mosquitto.available():
        print("agent_replay: needs mosquitto", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="pw-bench-replay-"))
    broker = Mosquitto(workdir=work / "mosquitto")  # its port is held across the restart
    port = broker.port
    broker.conf.write_text(broker.conf.read_text().replace(
        "persistence false\n", f"persistence true\npersistence_location {broker.workdir}/\n"))
    work.chmod(0o755)  # mosquitto started as root saves as the user ``mosquitto``
    broker.workdir.chmod(0o777)
    got, done = set(), threading.Event()

    def on_message(client, userdata, m):
        body = json.loads(m.payload)
        if body.get("kind") == "device_state":
            got.add((body["boot"], body["seq"]))
            if len(got) >= args.events:
                done.set()

    def subscriber() -> mqtt.Client:
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-replay-sub",
                        clean_session=False)
        c.on_message = on_message
        return collector_login(broker).connect(c)  # the account that may read events

    # The subscriber's persistent session, saved by the broker on its way down.
    broker.start()
    sub = subscriber()
    subscribed = threading.Event()
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.subscribe("parkwatch/v1/bench/lot/event", qos=1)
    sub.loop_start()
    if not subscribed.wait(10):
        raise RuntimeError("agent_replay: the subscription was not acknowledged")
    sub.loop_stop()
    sub.disconnect()
    broker.stop()

    agent = Agent(AgentConfig(
        project="bench", site="lot", broker=Broker("127.0.0.1", port),
        state_dir=work / "state", heartbeat_interval_s=10,
        mqtt=broker.site_mqtt("bench", "lot", reconnect_min_s=0.1, reconnect_max_s=0.2)))
    agent.start()
    t0 = time.monotonic()
    for i in range(args.events):
        agent.emit(agent._event("device_state", device=f"gate-{i % 16}",
                                state="fault" if i % 2 else "ok", prev="ok", since=time.time()))
    fill_s = time.monotonic() - t0

    broker.start()
    sub = subscriber()
    sub.loop_start()
    t1 = time.monotonic()
    try:
        done.wait(args.timeout)
        received_s = time.monotonic() - t1
        while agent.outbox.depth and time.monotonic() - t1 < args.timeout:
            time.sleep(0.01)
        drained_s = time.monotonic() - t1
    finally:
        agent.stop()
        sub.loop_stop()
        sub.disconnect()
        broker.close()
    result = {"benchmark": "agent_replay",
              "workload": f"{args.events:,} events stored in an in-process agent's outbox "
                          "(one durable SQLite commit each) while the broker is down, then "
                          "replayed to a subscriber through mosquitto, 50 in flight, timed "
                          "from the broker listening again (the agent's reconnect included)",
              "events": args.events,
              "received": len(got), "fill_events_per_s": round(args.events / fill_s),
              "replay_events_per_s": round(len(got) / received_s),
              "outbox_empty_after_s": round(drained_s, 2),
              "machine": machine_line()}
    print(f"{'agent replay':34} {'value':>8}")
    for key in ("events", "received", "fill_events_per_s", "replay_events_per_s",
                "outbox_empty_after_s"):
        print(f"{key:34} {result[key]:>8}")
    emit(result, args.json)
    return 0 if len(got) == args.events else 1


if __name__ == "__main__":
    sys.exit(main())
