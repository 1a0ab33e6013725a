"""Simulated devices on the LAN: a TCP server (the profile's frames or Modbus TCP) and an
HTTP server, on 127.0.0.1 and a free port unless told otherwise."""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from simulators.device import SimDevice
from simulators.protocols import protocol_for

log = logging.getLogger("parkwatch.sim")


class TcpSim:
    """Devices behind one TCP port (one camera, or several Modbus units behind a gateway).

    Each connection gets its own request parser; replies marked ``push_every_s`` in the
    profile (heartbeats) are sent to every connection on their own schedule.
    """

    def __init__(self, devices: list[SimDevice], host: str = "127.0.0.1", port: int = 0):
        self.devices = {d.address: d for d in devices}
        self.profile = devices[0].profile
        self.connections = 0
        self._stop = threading.Event()
        sim = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                sim._serve(self.request)

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.server = Server((host, port), Handler)
        self.host, self.port = self.server.server_address[:2]
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> TcpSim:
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={
            "poll_interval": 0.1}, name=f"sim-tcp-{self.port}", daemon=True)
        self._thread.start()
        return self

    def _serve(self, sock: socket.socket) -> None:
        self.connections += 1
        protocol = protocol_for(self.profile, self.devices)
        lock = threading.Lock()
        pushes = [(name, msg.push_every_s) for name, msg in self.profile.replies.items()
                  if msg.push_every_s]
        next_push = {name: time.monotonic() + every for name, every in pushes}

        def send(data: bytes, delay_s: float = 0.0) -> None:
            def go():
                with lock:
                    try:
                        sock.sendall(data)
                    except OSError:
                        pass
            if delay_s > 0:
                threading.Timer(delay_s, go).start()
            else:
                go()

        sock.settimeout(0.1)
        while not self._stop.is_set():
            now = time.monotonic()
            for name, every in pushes:
                if now >= next_push[name]:
                    next_push[name] = now + every
                    for device in self.devices.values():
                        answer = device.push(name)
                        if answer is not None:
                            send(answer.data, answer.delay_s)
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            for req in protocol.feed(data):
                answer = protocol.answer(req)
                if answer is not None:
                    send(answer.data, answer.delay_s)

    def stop(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()


class _QuietHTTPServer(ThreadingHTTPServer):
    """A client that gave up on a late or silent device is expected, not an error."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class HttpSim:
    """One HTTP device: each path of the profile's requests serves its reply."""

    def __init__(self, device: SimDevice, host: str = "127.0.0.1", port: int = 0):
        self.device = device
        self.routes = {msg.path: name for name, msg in device.profile.requests.items()}
        self._stop = threading.Event()
        sim = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                sim._handle(self)

            do_POST = do_GET

            def log_message(self, *args):
                pass

        self.server = _QuietHTTPServer((host, port), Handler)
        self.host, self.port = self.server.server_address[:2]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> HttpSim:
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={
            "poll_interval": 0.1}, name=f"sim-http-{self.port}", daemon=True)
        self._thread.start()
        return self

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        request = self.routes.get(h.path)
        if request is None:
            body = b"not found"
            h.send_response(404)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            return
        answer = self.device.answer(request)
        if answer is None:  # silent: hold the connection, say nothing
            self._stop.wait(30)
            h.close_connection = True
            return
        if answer.delay_s:
            self._stop.wait(answer.delay_s)
        h.send_response(200)
        h.send_header("Content-Type", "application/xml" if self.device.profile.replies[
            self.device.reply_for(request)].format == "xml" else "application/json")
        h.send_header("Content-Length", str(len(answer.data)))
        h.end_headers()
        h.wfile.write(answer.data)

    def stop(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
