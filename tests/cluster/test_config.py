"""``parkwatch cluster config`` and the config writer under it (collector/fleet/cluster.py):
topics as NATS subjects, the same grants as mosquitto's ACL, ports planned per node, files
kept private, passwords made once, and clear errors for what it cannot write."""

from __future__ import annotations

import re
import sqlite3
import stat
import subprocess
import time

import pytest

from collector.fleet import brokerconf, cluster
from collector.fleet.partitions import mapping, partition_of
from collector.fleet.registry import Registry
from collector.store import Store
from parkwatch.cli import main as parkwatch
from parkwatch.core import wire
from simulators.nats import nats_server


@pytest.mark.parametrize("topic, subjects", [
    ("parkwatch/v1/p1/lot-1/event", ("parkwatch.v1.p1.lot-1.event",)),
    ("parkwatch/v1/+/+/+", ("parkwatch.v1.*.*.*",)),
    ("parkwatch/v1/#", ("parkwatch.v1", "parkwatch.v1.>")),
    ("#", (">",)),
])
def test_mqtt_topics_become_the_subjects_nats_checks(topic, subjects):
    assert cluster.subjects(topic) == subjects


@pytest.mark.parametrize("topic", ["parkwatch/v1/p1/lot.1/event", "a b", "/a", "a/", "a//b",
                                   "a/#/b", "a/b+", ""])
def test_topics_nats_cannot_carry_are_refused(topic):
    with pytest.raises(cluster.ClusterError):
        cluster.subjects(topic)


def test_a_site_gets_the_grants_of_its_mosquitto_acl_and_no_more():
    site = cluster.user(brokerconf.site_account("p1", "lot-1", "$7$x"), "$2b$04$h")
    assert site.publish == tuple(wire.topic("p1", "lot-1", c).replace("/", ".")
                                 for c in (wire.STATUS, wire.HEARTBEAT, wire.EVENT))
    assert site.subscribe == ("parkwatch.v1.p1.lot-1.heartbeat", "parkwatch.v1.clock")
    collector = cluster.user(brokerconf.collector_account("col", "$7$x"), "$2b$04$h",
                             qos1_reads=True)
    assert collector.publish == ("parkwatch.v1.clock",)
    assert collector.subscribe == ("parkwatch.v1", "parkwatch.v1.>", cluster.QOS1_DELIVERY)
    text = cluster.accounts_conf([collector, site])
    assert text.count('allowed_connection_types: ["MQTT"]') == 2
    assert '"$2b$04$h"' in text and "$7$" not in text


def test_ports_are_planned_per_node_and_collisions_refused():
    nodes = cluster.plan(3, "10.0.0.5", [1883], [6222], [4222], [8222])
    assert [(n.name, n.mqtt_port, n.cluster_port) for n in nodes] == [
        ("nats-1", 1883, 6222), ("nats-2", 1884, 6223), ("nats-3", 1885, 6224)]
    listed = cluster.plan(2, "h", [1, 2], [3, 4], [5, 6], [7, 8])
    assert [n.http_port for n in listed] == [7, 8]
    with pytest.raises(cluster.ClusterError, match="lists 2 ports for 3 nodes"):
        cluster.plan(3, "h", [1883, 1884], [6222], [4222], [8222])
    with pytest.raises(cluster.ClusterError, match="used twice"):
        cluster.check_nodes(cluster.plan(3, "h", [1883], [1884], [4222], [8222]))


def test_each_node_routes_to_the_others_and_keeps_three_replicas():
    nodes = cluster.plan(3, "127.0.0.1", [1883], [6222], [4222], [8222])
    files = cluster.configs(nodes, [], "/var/lib/nats", "s3cret")
    assert sorted(files) == ["accounts.conf", "nats-1.conf", "nats-2.conf", "nats-3.conf"]
    one = files["nats-1.conf"]
    assert re.findall(r"@127\.0\.0\.1:(\d+)", one) == ["6223", "6224"]
    assert "stream_replicas: 3" in one and 'store_dir: "/var/lib/nats/nats-1"' in one
    assert 'http: "127.0.0.1:8222"' in one and "include accounts.conf" in one


def registry_db(tmp_path):
    db = tmp_path / "collector.db"
    registry = Registry(Store(db).db)
    for site in ("lot-1", "lot-2", "lot.9"):
        registry.add("p1", site, None, "tests", time.time())
    return db


def test_the_command_writes_private_files_and_keeps_its_passwords(tmp_path, capsys):
    db, out = registry_db(tmp_path), tmp_path / "nats"
    with sqlite3.connect(db) as c:  # a site whose password predates the bcrypt hashes
        c.execute("UPDATE fleet_sites SET bcrypt_hash = NULL WHERE site = 'lot-2'")
    args = ["cluster", "config", "--out", str(out), "--db", str(db), "--mqtt-port", "1883",
            "--store", str(tmp_path / "js")]
    assert parkwatch(args) == 0
    said = capsys.readouterr()
    assert 'broker = ["mqtt://127.0.0.1:1883", "mqtt://127.0.0.1:1884", ' in said.out
    assert "(p1/lot-2): their password predates" in said.err
    assert "(p1/lot.9): NATS 2.9 cannot carry a '.'" in said.err
    for name in ("nats-1.conf", "accounts.conf", "collector.password", "route.password"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600, name
    accounts = (out / "accounts.conf").read_text()
    assert '"p1/lot-1"' in accounts and "lot-2" not in accounts and "lot.9" not in accounts
    assert (tmp_path / "js" / "nats-3").is_dir()
    kept = {n: (out / n).read_text() for n in ("collector.password", "route.password")}
    assert parkwatch(args) == 0
    assert kept == {n: (out / n).read_text() for n in kept}


@pytest.mark.parametrize("flags, problem", [
    (["--nodes", "0"], "1-9 nodes"),
    (["--mqtt-port", "1883,x"], "--mqtt-port must be a port"),
    (["--mqtt-port", "1883,1884"], "lists 2 ports for 3 nodes"),
    (["--cluster-port", "1884"], "used twice"),
    (["--http-port", "70000"], "not 1-65535"),
    (["--collector-user", "a/b"], "may not hold '/'"),
])
def test_mistakes_are_one_clear_line(tmp_path, capsys, flags, problem):
    db = registry_db(tmp_path)
    code = parkwatch(["cluster", "config", "--out", str(tmp_path / "o"), "--db", str(db),
                      *flags])
    err = capsys.readouterr().err
    assert code == 2 and problem in err and "Traceback" not in err


def test_partitions_write_the_mapping_and_the_grants_it_needs(tmp_path, capsys):
    db, out = registry_db(tmp_path), tmp_path / "nats"
    base = ["cluster", "config", "--out", str(out), "--db", str(db), "--store",
            str(tmp_path / "js")]
    assert parkwatch(base) == 0
    plain = (out / "accounts.conf").read_text()
    assert "mappings" not in plain and "part." not in plain  # no --partitions: as before
    assert "ack_wait" not in (out / "nats-1.conf").read_text()
    assert parkwatch([*base, "--partitions", "16", "--ack-wait", "5"]) == 0
    assert "partition mapping: 16 partition(s)" in capsys.readouterr().out
    text = (out / "accounts.conf").read_text()
    src, dst = mapping(16)
    assert f'mappings: {{ "{src}": "{dst}" }}' in text  # the text partitions.mapping gives
    assert 'ack_wait: "5s"' in (out / "nats-1.conf").read_text()
    n = partition_of("p1", "lot-1", 16)
    lot1 = text[text.index('"p1/lot-1"'):].split("}}")[0]
    for channel in (wire.STATUS, wire.HEARTBEAT, wire.EVENT):  # the Will's unmapped one too
        subject = wire.topic("p1", "lot-1", channel).replace("/", ".")
        assert f'"{subject}"' in lot1 and f'"part.{n}.{subject}"' in lot1
    echo = wire.topic("p1", "lot-1", wire.HEARTBEAT).replace("/", ".")
    assert lot1.count('"part.') == 4  # and its heartbeat echo, mapped, to read
    assert lot1.index(f'"part.*.{echo}"', lot1.index("subscribe")) > 0
    collector = text[text.index('"parkwatch-collector"'):].split("}}")[0]
    assert '"part.>"' in collector and '"parkwatch.v1.>"' in collector
    assert '"$MQTT.sub.>"' in collector
    exe = nats_server()
    if exe:  # nats-server itself reads what was written
        check = subprocess.run([exe, "-t", "-c", str(out / "nats-1.conf")],
                               capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stderr


@pytest.mark.parametrize("flags, problem", [
    (["--partitions", "0"], "--partitions must be 1-1024, not 0"),
    (["--partitions", "1025"], "--partitions must be 1-1024, not 1025"),
    (["--ack-wait", "0"], "--ack-wait must be 1-3600 seconds"),
])
def test_a_partition_count_or_ack_wait_out_of_range_is_one_clear_line(tmp_path, capsys,
                                                                       flags, problem):
    code = parkwatch(["cluster", "config", "--out", str(tmp_path / "o"), "--db",
                      str(registry_db(tmp_path)), *flags])
    err = capsys.readouterr().err
    assert code == 2 and problem in err and "Traceback" not in err
