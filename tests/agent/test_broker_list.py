"""``broker`` as a list of URLs (the nodes of a cluster): read and checked, then tried in
turn, without the backoff wait until every URL has failed once. One URL is read and paced
exactly as before."""

from __future__ import annotations

import time

import pytest

from agent import config as agent_config
from parkwatch.core.broker import BrokerRotation
from parkwatch.core.conf import ConfigError
from simulators.ports import HeldPort
from tests.agent.test_mqtt import link, link_account
from tests.helpers import wait_for


def load(tmp_path, broker: str):
    path = tmp_path / "agent.toml"
    path.write_text(f'project = "p1"\nsite = "lot-1"\nbroker = {broker}\n'
                    f'state_dir = "{tmp_path}"\nkeepalive_s = 7\n')
    return agent_config.load(path)


def test_one_url_is_read_as_before(tmp_path):
    cfg = load(tmp_path, '"mqtt://a.example:1884"')
    assert cfg.brokers == (cfg.broker,) and cfg.more_brokers == ()
    assert (cfg.broker.host, cfg.broker.port, cfg.broker.keepalive_s) == ("a.example", 1884, 7)


def test_a_list_keeps_its_order_and_the_keepalive(tmp_path):
    cfg = load(tmp_path, '["mqtts://a:8883", "mqtts://b", "mqtts://c:8884"]')
    assert [(b.host, b.port, b.tls, b.keepalive_s) for b in cfg.brokers] == [
        ("a", 8883, True, 7), ("b", 8883, True, 7), ("c", 8884, True, 7)]
    assert cfg.broker.host == "a"


@pytest.mark.parametrize("broker, problem", [
    ('["mqtt://a", "mqtts://b"]', "mixes mqtt:// and mqtts://"),
    ('["mqtt://a:1883", "mqtt://a"]', "lists a:1883 twice"),
    ("[]", "empty list"),
    ('["mqtt://a", 3]', "must be a list of strings"),
    ('["http://a"]', "must look like mqtt://host:port"),
    ('["mqtt://u:p@a"]', "must not carry credentials"),
    ("[" + ", ".join(f'"mqtt://h{i}"' for i in range(17)) + "]", "at most 16"),
])
def test_a_bad_list_is_one_clear_error(tmp_path, broker, problem):
    with pytest.raises(ConfigError, match="key 'broker'") as e:
        load(tmp_path, broker)
    assert problem in str(e.value)


def test_the_rotation_waits_only_after_a_whole_round_of_failures():
    one = BrokerRotation([("a", 1)])
    assert [one.failed() for _ in range(3)] == [True, True, True]  # as before: every time
    three = BrokerRotation([("a", 1), ("b", 2), ("c", 3)])
    assert [(three.failed(), three.current) for _ in range(4)] == [
        (False, ("b", 2)), (False, ("c", 3)), (True, ("a", 1)), (False, ("b", 2))]
    three.connected()  # on b
    three.lost()
    assert three.current == ("c", 3)
    assert [three.failed() for _ in range(3)] == [False, False, True]


def test_a_dead_first_broker_is_passed_over_at_once(mosquitto):
    """Nothing listens on the first URL: the link moves to the second without waiting its
    backoff (5 s here), and says why the first failed."""
    with HeldPort() as dead:
        lk = link(dead.port, more=(("127.0.0.1", mosquitto.port),), reconnect_min_s=5,
                  reconnect_max_s=5, **link_account(mosquitto))
        started = time.monotonic()
        lk.start()
        try:
            wait_for(lambda: lk.listener.up, 4, what="the second broker accepting the link")
            assert time.monotonic() - started < 4
            assert lk.broker == f"127.0.0.1:{mosquitto.port}"
            [(cause, detail)] = lk.listener.failed
            assert cause == "tcp_connect" and f"127.0.0.1:{dead.port}" in detail
        finally:
            lk.stop()
