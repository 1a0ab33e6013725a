"""The uplink-cut proxy against a real echo server."""

import errno
import socket
import socketserver
import threading
import time

import pytest

from simulators.netproxy import NetProxy
from tests.helpers import wait_for


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while data := self.request.recv(4096):
            self.request.sendall(data)


@pytest.fixture
def proxy():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    p = NetProxy(server.server_address[1]).start()
    yield p
    p.stop()
    server.shutdown()
    server.server_close()


def talk(port, data=b"ping", timeout=2.0):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        return s.recv(100)


def test_pass_forwards_both_ways(proxy):
    assert talk(proxy.port) == b"ping"
    assert proxy.stats.bytes_up == 4 and proxy.stats.bytes_down == 4


def test_drop_resets_live_connections_and_refuses_new_ones_until_pass(proxy):
    s = socket.create_connection(("127.0.0.1", proxy.port), timeout=2)
    s.sendall(b"a")
    assert s.recv(10) == b"a"
    proxy.set_mode("drop")
    with pytest.raises(OSError):
        s.sendall(b"b")
        if not s.recv(10):
            raise ConnectionResetError("closed")
    with pytest.raises(ConnectionRefusedError):
        talk(proxy.port)
    proxy.set_mode("pass")
    assert talk(proxy.port) == b"ping"


def test_blackhole_accepts_but_never_answers(proxy):
    proxy.set_mode("blackhole")
    with pytest.raises(TimeoutError):
        talk(proxy.port, timeout=0.5)
    proxy.set_mode("pass")
    assert talk(proxy.port) == b"ping"


def test_delay_holds_each_chunk(proxy):
    proxy.set_mode("delay", 0.3)
    started = time.monotonic()
    assert talk(proxy.port) == b"ping"
    assert time.monotonic() - started >= 0.6  # once each way


def test_commands_from_a_script(proxy):
    assert proxy.command("throttle 100") == "ok throttle"
    assert proxy.command("melt").startswith("error: mode must be one of")
    assert proxy.command("pass") == "ok pass"


def test_a_blackhole_holds_bytes_and_closes_until_it_ends(proxy):
    s = socket.create_connection(("127.0.0.1", proxy.port), timeout=2)
    s.sendall(b"a")
    assert s.recv(10) == b"a"
    proxy.set_mode("blackhole")
    s.sendall(b"held")
    s.settimeout(0.5)
    with pytest.raises(TimeoutError):
        s.recv(10)
    assert proxy.stats.held == 4
    proxy.set_mode("pass")  # as TCP would retransmit them: delivered late, not lost
    s.settimeout(2)
    assert s.recv(10) == b"held"
    s.close()


def test_a_close_in_a_blackhole_reaches_the_other_side_only_after_it(proxy):
    s = socket.create_connection(("127.0.0.1", proxy.port), timeout=2)
    s.sendall(b"a")
    assert s.recv(10) == b"a"
    proxy.set_mode("blackhole")
    s.close()
    wait_for(lambda: proxy.stats.closed_by_client == 1, 2, what="the proxy to see the close")
    assert proxy._conns  # still held open upstream
    proxy.set_mode("pass")
    wait_for(lambda: not proxy._conns, 2, what="the close to reach the upstream")


def test_a_dropped_proxy_keeps_its_port_and_comes_back_on_it(proxy):
    port = proxy.port
    proxy.set_mode("drop")
    with socket.socket() as stranger, pytest.raises(OSError) as e:
        stranger.bind(("127.0.0.1", port))  # held while nothing listens: no one else's
    assert e.value.errno == errno.EADDRINUSE
    proxy.set_mode("pass")
    assert proxy.port == port and talk(port) == b"ping"


def test_sim_proxy_command_reads_modes_from_stdin(proxy, parkwatch_exe):
    import re
    import subprocess

    upstream = proxy.upstream[1]  # the echo server behind the fixture's proxy
    p = subprocess.Popen([parkwatch_exe, "sim", "proxy", "--listen-port", "0",
                          "--upstream", f"127.0.0.1:{upstream}"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = p.stdout.readline()  # "proxy 127.0.0.1:PORT -> ..., mode pass; ..."
        assert "mode pass" in first
        port = int(re.match(r"proxy 127\.0\.0\.1:(\d+) ->", first).group(1))
        assert talk(port) == b"ping"
        p.stdin.write("drop\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "ok drop"
        with pytest.raises(ConnectionRefusedError):
            talk(port)
        p.stdin.write("melt\n")
        p.stdin.flush()
        assert p.stdout.readline().startswith("error: mode must be one of")
        p.stdin.write("pass\nstats\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "ok pass"
        assert p.stdout.readline().startswith("ok accepted=")
        p.stdin.close()
        assert p.wait(10) == 0
    finally:
        if p.poll() is None:
            p.kill()


def test_sim_proxy_refuses_a_bad_upstream_in_one_line(parkwatch_exe):
    import subprocess

    r = subprocess.run([parkwatch_exe, "sim", "proxy", "--listen-port", "0", "--upstream",
                        "nowhere"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 2
    assert r.stderr.strip() == "parkwatch: --upstream must be HOST:PORT, got 'nowhere'"
