"""A NATS cluster (three nodes with MQTT, on loopback ports held for them) and the parts
that run on it: agents given every node's URL, and a collector on one node."""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path

import pytest

from collector.config import CollectorConfig
from collector.service import Collector
from parkwatch.core.broker import Broker
from simulators.nats import NatsCluster
from tests.helpers import fleet

P = "p1"
SITES = ("lot-1", "lot-2", "lot-3")
BEAT_S = 0.5
THRESHOLD_S = 2.0


def _cluster(workdir: Path) -> NatsCluster:
    if not NatsCluster.available():
        pytest.fail("nats-server is not installed; .ci/run installs it "
                    "(apt-get install nats-server)")
    cluster = NatsCluster(workdir=workdir)
    for site in SITES:  # before the start: no reload to wait for
        cluster.add_site(P, site)
    return cluster.start()


@pytest.fixture(scope="module")
def shared_cluster(tmp_path_factory):
    """One cluster for a module's tests that leave every node running."""
    cluster = _cluster(tmp_path_factory.mktemp("nats"))
    yield cluster
    cluster.close()


@pytest.fixture
def nats_cluster(tmp_path):
    """A cluster of one test's own (it may kill nodes)."""
    cluster = _cluster(tmp_path / "nats")
    yield cluster
    cluster.close()


def agent_config(path: Path, cluster: NatsCluster, site: str, order: list[int],
                 devices: tuple[tuple[str, str], ...] = ()) -> Path:
    """An agent config for ``p1/<site>`` listing the nodes' MQTT URLs in ``order``."""
    urls = json.dumps([cluster.nodes[i].mqtt_url for i in order])
    text = (f'project = "{P}"\nsite = "{site}"\nbroker = {urls}\n'
            f'heartbeat_interval_s = {BEAT_S}\nstate_dir = "{path / "state"}"\n'
            "keepalive_s = 5\n[mqtt]\nreconnect_min_s = 0.1\nreconnect_max_s = 0.5\n"
            f"connect_timeout_s = 5\n{cluster.mqtt_toml(P, site)}")
    for name, port in devices:
        text += (f'\n[[devices]]\nname = "{name}"\nport = "{port}"\npoll_interval_s = 0.1\n'
                 "timeout_s = 0.1\noffline_after = 2\n")
    config = path / f"{site}.toml"
    config.write_text(text)
    return config


def collector_on(cluster: NatsCluster, node: int, database: Path) -> Collector:
    """A started collector (in this process) subscribed through node ``node``."""
    collector = Collector(CollectorConfig(
        broker=Broker("127.0.0.1", cluster.nodes[node].mqtt_port),
        mqtt=cluster.collector_mqtt(), database=database, projects=fleet({P: list(SITES)}),
        outage_threshold_s=THRESHOLD_S, api_port=0, anonymous_read=True,
        client_id=f"parkwatch-collector-{uuid.uuid4().hex[:8]}"))
    collector.start()
    return collector


def stored(db: Path, site: str, boot: int, seq: int) -> int:
    """How many times the collector's store holds the event (boot, seq) of ``p1/<site>``."""
    ro = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return ro.execute("SELECT count(*) FROM seen_events WHERE project = ? AND site = ? "
                          "AND boot = ? AND seq = ?", (P, site, boot, seq)).fetchone()[0]
    finally:
        ro.close()
