"""``parkwatch broker config`` against a real mosquitto started with what it wrote: site
accounts log in and publish only their own topics, nobody else gets in."""

from __future__ import annotations

import stat

import pytest

from collector.fleet.brokerconf import verify_password
from parkwatch.core import wire
from tests.broker_support import Login, cli, register, write_broker
from tests.helpers import wait_for

HB = b'{"v":1}'


@pytest.fixture
def locked(tmp_path):
    db = tmp_path / "c.db"
    passwords = register(db, "P1/S01", "P1/S02")
    broker = write_broker(tmp_path / "broker", db).start()
    yield broker, passwords, db
    broker.stop()


def test_the_written_files(locked):
    broker, passwords, _ = locked
    out = broker.out
    conf = (out / "mosquitto.conf").read_text()
    assert "allow_anonymous false" in conf and f"password_file {out / 'passwd'}" in conf
    assert f"acl_file {out / 'acl'}" in conf
    for name in ("passwd", "acl", "collector.password"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600, name
    lines = dict(line.split(":", 1) for line in (out / "passwd").read_text().splitlines())
    assert set(lines) == {"parkwatch-collector", "P1/S01", "P1/S02"}
    assert verify_password(passwords["P1/S01"], lines["P1/S01"])
    assert "P1/S01" in (out / "acl").read_text()


def test_the_collector_password_is_made_once(tmp_path, locked):
    broker, _, db = locked
    first = broker.collector_password
    assert cli("broker", "config", "--out", str(broker.out), "--db", str(db)) == 0
    assert broker.collector_password == first


def test_sites_log_in_with_their_own_password_only(locked):
    broker, passwords, _ = locked
    ok = Login(broker.port, "P1/S01", passwords["P1/S01"])
    assert ok.accepted()
    ok.close()
    for user, password in [(None, None), ("P1/S01", "wrong"), ("P1/S01", passwords["P1/S02"]),
                           ("P9/S99", "whatever"), ("parkwatch-collector", "guess")]:
        login = Login(broker.port, user, password)
        assert not login.accepted(), (user, password)
        login.close()


def test_a_site_publishes_only_its_own_topics_and_the_collector_reads_all(locked):
    broker, passwords, _ = locked
    collector = Login(broker.port, "parkwatch-collector", broker.collector_password)
    assert collector.accepted()
    collector.subscribe("parkwatch/v1/#")
    site = Login(broker.port, "P1/S01", passwords["P1/S01"])
    assert site.accepted()
    site.subscribe(wire.CLOCK_TOPIC)
    forbidden = [wire.topic("P1", "S02", wire.HEARTBEAT), wire.topic("P1", "S02", wire.EVENT),
                 wire.CLOCK_TOPIC, "parkwatch/v1/P1/S01/other"]
    for topic in forbidden:
        site.publish(topic, b"forged")
    own = [wire.topic("P1", "S01", ch) for ch in wire.CHANNELS]
    for topic in own:
        site.publish(topic, HB)
    wait_for(lambda: {t for t, _ in collector.got} >= set(own), what="the site's messages")
    assert not {t for t, _ in collector.got} & set(forbidden)
    # The clock is the collector's to publish, and every site reads it.
    collector.publish(wire.CLOCK_TOPIC, b'{"ts": 1}', qos=0)
    wait_for(lambda: any(t == wire.CLOCK_TOPIC for t, _ in site.got), what="the clock")
    assert not any(p == b"forged" for _, p in site.got)
    site.close()
    collector.close()


def test_a_removed_site_is_refused_after_a_reload(locked):
    broker, passwords, db = locked
    assert Login(broker.port, "P1/S02", passwords["P1/S02"]).accepted()
    assert cli("site", "remove", "P1", "S02", "--db", str(db)) == 0
    assert cli("broker", "config", "--out", str(broker.out), "--db", str(db),
               "--port", str(broker.port), "--host", "127.0.0.1") == 0
    broker.reload()

    def refused():
        login = Login(broker.port, "P1/S02", passwords["P1/S02"])
        try:
            return not login.accepted()
        finally:
            login.close()

    wait_for(refused, what="mosquitto to drop the removed site")
    assert Login(broker.port, "P1/S01", passwords["P1/S01"]).accepted()


def test_bad_arguments_are_one_line(tmp_path, capsys):
    assert cli("broker", "config", "--out", str(tmp_path / "o"), "--db",
               str(tmp_path / "missing.db")) == 2
    assert "no such database" in capsys.readouterr().err
    assert not (tmp_path / "missing.db").exists()
    db = tmp_path / "c.db"
    register(db, "P1/S01")
    assert cli("broker", "config", "--out", str(tmp_path / "o"), "--db", str(db),
               "--cafile", "x") == 2
    assert "needs all of --cafile" in capsys.readouterr().err
    assert cli("broker", "config", "--out", str(tmp_path / "o"), "--db", str(db),
               "--no-plain") == 2
