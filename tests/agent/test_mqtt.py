"""The MQTT link on real brokers: TLS and passwords from files (never logged), each kind of
failure named for the uplink journal, callbacks that raise, and a loop that dies."""

import os
import socket
import subprocess
import threading

import paho.mqtt.client as mqtt
import pytest

from agent import config as agent_config
from agent.mqtt_link import LinkSettings, MqttLink
from parkwatch.core import wire
from simulators.broker import Mosquitto
from simulators.ports import HeldPort
from tests.agent_support import Recorder, start_agent
from tests.helpers import wait_for

PASSWORD = "s3cret-Pa55-do-not-log"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
            "-subj", f"/CN=parkwatch test {name}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    return d / f"{name}.pem"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    make_ca(d, "ca")
    make_ca(d, "other-ca")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1", cwd=d)
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nkeyUsage=digitalSignature\n"
                               "extendedKeyUsage=serverAuth\nauthorityKeyIdentifier=keyid\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf", cwd=d)
    return d


@pytest.fixture
def secure_broker(tmp_path, pki):
    """TLS with a password on one port; plain with the same password on another."""
    b = Mosquitto(workdir=tmp_path / "mosquitto")
    b.plain_port = b.hold_port()
    passwd = b.workdir / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwd), "gate", PASSWORD],
                   check=True, capture_output=True)
    os.chmod(passwd, 0o600)
    b.conf.write_text(
        ("user root\n" if os.geteuid() == 0 else "")
        + f"allow_anonymous false\npassword_file {passwd}\npersistence false\n"
        f"log_dest stderr\nlog_type error\n"
        f"listener {b.port} 127.0.0.1\ncafile {pki / 'ca.pem'}\n"
        f"certfile {pki / 'server.pem'}\nkeyfile {pki / 'server.key'}\n"
        f"listener {b.plain_port} 127.0.0.1\n")
    b.start()
    yield b
    b.close()


class Listener:
    """What the agent is to the link, reduced to recording."""

    def __init__(self, raise_on_message=False):
        self.failed, self.up, self.down, self.acked, self.messages = [], [], [], [], []
        self.raise_on_message = raise_on_message

    def link_will(self):
        return "parkwatch/test/will", b"gone"

    def link_subscriptions(self):
        return [("parkwatch/test/in", 0)]

    def link_up(self, gen):
        self.up.append(gen)

    def link_down(self, gen, how, last_in):
        self.down.append(how)

    def link_failed(self, cause, detail, attempt_mono):
        self.failed.append((cause, detail))

    def link_acked(self, gen, mid):
        self.acked.append(mid)

    def link_message(self, topic, payload, retain):
        self.messages.append(payload)
        if self.raise_on_message:
            raise RuntimeError("a bug in a callback")


def link(port, listener=None, resolve=socket.getaddrinfo, **over):
    settings = dict(host="127.0.0.1", port=port, client_id="parkwatch-test-link",
                    keepalive_s=10, connect_timeout_s=3, reconnect_min_s=0.1,
                    reconnect_max_s=0.3)
    settings.update(over)
    return MqttLink(LinkSettings(**settings), listener or Listener(), resolve=resolve)


def link_account(broker):
    """An account of the broker for these link tests' own topics (parkwatch/test/...)."""
    password = broker.add_account("link-test", read=("parkwatch/test/#",),
                                  write=("parkwatch/test/#",))
    return {"username": "link-test", "password": agent_config.Secret(password)}


def first_failure(lk):
    lk.start()
    try:
        return wait_for(lambda: lk.listener.failed, 15, what="a failed attempt")[0]
    finally:
        lk.stop()


def test_tls_and_a_password_from_a_file_connect_and_the_secret_is_never_logged(
        tmp_path, pki, secure_broker, parkwatch_exe):
    (tmp_path / "mqtt.password").write_text(PASSWORD + "\n")
    cfg = tmp_path / "agent.toml"
    cfg.write_text(
        f'project = "p1"\nsite = "lot-1"\nbroker = "mqtts://127.0.0.1:{secure_broker.port}"\n'
        f'state_dir = "{tmp_path / "state"}"\nheartbeat_interval_s = 0.5\n[mqtt]\n'
        f'username = "gate"\npassword_file = "{tmp_path / "mqtt.password"}"\n'
        f'ca_file = "{pki / "ca.pem"}"\nreconnect_min_s = 0.1\nreconnect_max_s = 0.3\n')
    loaded = agent_config.load(cfg)
    assert loaded.mqtt.password.reveal() == PASSWORD
    assert PASSWORD not in repr(loaded) and PASSWORD not in str(loaded.mqtt.password)
    recorder = Recorder(secure_broker.plain_port, username="gate", password=PASSWORD)
    agent = start_agent(parkwatch_exe, cfg, tmp_path / "agent.log")  # -v: debug logging
    try:
        wait_for(lambda: any(s.state == "online" for s in recorder.of(wire.Status)), 15,
                 what="the agent online over TLS")
    finally:
        agent.terminate()
        agent.wait(10)
        recorder.close()
    log = (tmp_path / "agent.log").read_text()
    assert PASSWORD not in log and "connected to 127.0.0.1" in log


@pytest.mark.parametrize("case,cause", [
    ("wrong_password", "mqtt_refused"), ("unknown_ca", "tls"), ("nothing_listens", "tcp_connect"),
    ("no_such_name", "dns")])
def test_each_kind_of_failure_is_named(pki, secure_broker, case, cause, caplog):
    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    tls = dict(tls=True, ca_file=str(pki / "ca.pem"), username="gate",
               password=agent_config.Secret(PASSWORD))
    with HeldPort() as nowhere:  # refused, and no one else's while the test runs
        over = {
            "wrong_password": dict(tls, password=agent_config.Secret("wrong")),
            "unknown_ca": dict(tls, ca_file=str(pki / "other-ca.pem")),
            "nothing_listens": dict(port=nowhere.port),
            "no_such_name": dict(host="broker.site.invalid", resolve=no_dns),
        }[case]
        got, detail = first_failure(link(**{"port": secure_broker.port, **over}))
    assert got == cause, detail
    assert PASSWORD not in caplog.text


def test_a_callback_that_raises_is_counted_and_the_link_lives_on(mosquitto):
    login = link_account(mosquitto)
    lk = link(mosquitto.port, Listener(raise_on_message=True), **login)
    lk.start()
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    pub.username_pw_set(login["username"], login["password"].reveal())
    pub.connect("127.0.0.1", mosquitto.port)
    pub.loop_start()
    try:
        wait_for(lk.connected.is_set, 10, what="the link to connect")

        def three_errors():  # publish until the link's subscription is in place and has
            if lk.callback_errors < 3:  # seen three messages, each raising in its callback
                pub.publish("parkwatch/test/in", b"m", qos=1).wait_for_publish(5)
            return lk.callback_errors >= 3

        wait_for(three_errors, 10, interval=0.1, what="three counted errors")
        assert lk.callback_errors == len(lk.listener.messages)
        assert lk.connected.is_set() and lk.listener.down == []
        mid = lk.publish("parkwatch/test/out", b"still here", qos=1)
        wait_for(lambda: mid in lk.listener.acked, 5, what="a PUBACK after the errors")
    finally:
        pub.loop_stop()
        pub.disconnect()
        lk.stop()


class Fatal(BaseException):
    """Something the loop's own error handling does not catch."""


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dead_network_thread_is_restarted_by_the_supervisor(mosquitto):
    lk = link(mosquitto.port, **link_account(mosquitto))
    serve, armed = lk._serve, threading.Event()

    def dying_serve():
        if armed.is_set():
            armed.clear()
            raise Fatal()
        return serve()

    lk._serve = dying_serve
    armed.set()
    lk.start()
    try:
        wait_for(lambda: lk.listener.up and not lk._thread.is_alive(), 10,
                 what="the network thread to die")
        lk.check()
        assert lk.thread_restarts == 1
        wait_for(lambda: lk.connected.is_set() and lk._thread.is_alive(), 10,
                 what="the link back up")
        assert len(lk.listener.up) == 2
    finally:
        lk.stop()


def test_tls_settings_need_mqtts(tmp_path, pki):
    cfg = tmp_path / "agent.toml"
    cfg.write_text(f'project = "p"\nsite = "s"\nbroker = "mqtt://h"\n[mqtt]\n'
                   f'ca_file = "{pki / "ca.pem"}"\n')
    with pytest.raises(agent_config.ConfigError, match="use mqtts://"):
        agent_config.load(cfg)
