"""The uplink-cut proxy against a real echo server."""

import socket
import socketserver
import threading
import time

import pytest

from simulators.netproxy import NetProxy


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
