"""Devices on the lot's LAN that misbehave on purpose: real HTTP and TCP servers on port 0.

``HostileCamera(mode)`` answers every path with one attack:
- ``flood``: 100 MB of body for each request, no Content-Length, until the client hangs up;
- ``declared``: a Content-Length of 100 MB (and the bytes behind it, if anyone reads);
- ``trickle_body`` / ``trickle_headers``: one byte a second, in the body or the headers;
- ``bomb``: a billion-laughs XML reply; ``xxe``: an XML reply with an external entity
  naming ``secret`` (a file on the gateway); ``gzip``: a gzip body that inflates to 100 MB.
``FloodTcp`` accepts a connection and sends bytes that never make a frame, as fast as it can.
"""

from __future__ import annotations

import gzip
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MB = 1_000_000
CHUNK = b"<x>" + b"A" * 65_530 + b"</x>"  # well-formed-looking XML, 64 kB a write

BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<DeviceInfo><model>&lol9;</model><serialNumber>1</serialNumber>
<firmwareVersion>V5.7.3</firmwareVersion></DeviceInfo>
"""


def xxe(secret: Path) -> bytes:
    return (f'<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY s SYSTEM "file://{secret}">]>\n'
            "<DeviceInfo><model>&s;</model><serialNumber>1</serialNumber>"
            "<firmwareVersion>V5.7.3</firmwareVersion></DeviceInfo>\n").encode()


class HostileCamera:
    def __init__(self, mode: str, secret: Path | None = None):
        self.mode, self.secret = mode, secret
        self.stop = threading.Event()
        self.sent = 0          # body bytes written (flood, trickle), all requests
        self.most = 0          # the most body bytes written for one request
        self.requests = 0
        self.lock = threading.Lock()
        self._gzip = gzip.compress(b"\0" * (100 * MB), 9) if mode == "gzip" else b""
        camera = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                with camera.lock:
                    camera.requests += 1
                try:
                    camera.answer(self)
                except OSError:  # the agent hung up: that is the point
                    pass
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.1}, daemon=True)

    def __enter__(self) -> HostileCamera:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()

    def _count(self, n: int) -> None:
        with self.lock:
            self.sent += n

    def answer(self, h: BaseHTTPRequestHandler) -> None:
        mode, w = self.mode, h.wfile
        if mode == "trickle_headers":
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":
                if self.stop.wait(1.0):
                    return
                w.write(bytes([byte]))
                w.flush()
            return
        if mode in ("bomb", "xxe", "gzip"):
            body = {"bomb": BOMB, "gzip": self._gzip}.get(mode) or xxe(self.secret)
            h.send_response(200)
            h.send_header("Content-Type", "application/xml")
            if mode == "gzip":
                h.send_header("Content-Encoding", "gzip")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            w.write(body)
            return
        h.send_response(200)
        h.send_header("Content-Type", "application/xml")
        if mode == "declared":
            h.send_header("Content-Length", str(100 * MB))
        elif mode == "trickle_body":
            h.send_header("Content-Length", "600")
        else:
            h.send_header("Connection", "close")
        h.end_headers()
        if mode == "trickle_body":
            for _ in range(600):
                if self.stop.wait(1.0):
                    return
                w.write(b" ")
                w.flush()
                self._count(1)
            return
        sent = 0
        while sent < 100 * MB and not self.stop.is_set():
            w.write(CHUNK)
            sent += len(CHUNK)
            self._count(len(CHUNK))
            self.most = max(self.most, sent)


class FloodTcp:
    """A TCP device that answers nothing, only noise, as fast as the socket takes it."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.stop = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> FloodTcp:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.sock.close()

    def _serve(self) -> None:
        noise = b"\0" * 65_536  # never the start of a frame of the TCP profile (AA 55)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                try:
                    while not self.stop.is_set():
                        conn.sendall(noise)
                        self.sent += len(noise)
                except OSError:
                    continue
