"""A small HTTP control interface for simulated devices, for scripts (curl) and tests.

    GET  /devices                 every device: profile, address, mode, fault, counters
    GET  /devices/<name>          one device
    POST /devices/<name>          a JSON object of commands, applied in this order:
         {"mode": "silent" | "late" | "corrupt" | "truncated" | "random" | "normal",
          "delay_s": 2.0,                    # with "late"
          "fault": "motor" | null,           # any fault code of the profile; null clears
          "occupied": true | false,          # a car on the loop
          "intercom": true,                  # press the call button once
          "channel": "2",                    # for fault / occupied / intercom
          "field": "temperature_c", "value": 80,
          "unplug": true, "replug": true}    # serial lines: pull / plug the adapter

A command the device cannot follow answers 400 with the reason; nothing is half-applied
except the commands before it in the list above.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from simulators.device import SimDevice, SimError

COMMANDS = ("mode", "delay_s", "fault", "occupied", "intercom", "channel", "field", "value",
            "unplug", "replug")


def apply(device: SimDevice, commands: dict, plug: Callable[[bool], None] | None = None) -> None:
    """Apply a control object to ``device`` (the same dict the HTTP interface takes)."""
    unknown = sorted(set(commands) - set(COMMANDS))
    if unknown:
        raise SimError(f"unknown command {unknown[0]!r}; known: {', '.join(COMMANDS)}")
    channel = commands.get("channel")
    channel = None if channel is None else str(channel)
    if "mode" in commands or "delay_s" in commands:
        device.set_mode(commands.get("mode", device.mode), commands.get("delay_s"))
    if "fault" in commands:
        device.set_fault(commands["fault"], channel)
    if "occupied" in commands:
        device.set_occupied(bool(commands["occupied"]), channel)
    if commands.get("intercom"):
        device.press_intercom(channel)
    if "field" in commands:
        device.set_field(commands["field"], commands.get("value"))
    for key, plugged in (("unplug", False), ("replug", True)):
        if commands.get(key):
            if plug is None:
                raise SimError(f"{device.name} is not on a serial line that can be {key}ged")
            plug(plugged)


class ControlServer:
    def __init__(self, devices: dict[str, SimDevice], host: str = "127.0.0.1", port: int = 0,
                 plugs: dict[str, Callable[[bool], None]] | None = None):
        self.devices, self.plugs = devices, plugs or {}
        control = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                control._get(self)

            def do_POST(self):
                control._post(self)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.host, self.port = self.server.server_address[:2]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ControlServer:
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={
            "poll_interval": 0.1}, name="sim-control", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body) -> None:
        data = json.dumps(body, indent=1).encode() + b"\n"
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _device(self, h: BaseHTTPRequestHandler) -> SimDevice | None:
        name = h.path.rstrip("/").removeprefix("/devices/")
        device = self.devices.get(name)
        if device is None:
            self._send(h, 404, {"error": f"no device {name!r}; devices: {sorted(self.devices)}"})
        return device

    def _get(self, h: BaseHTTPRequestHandler) -> None:
        if h.path.rstrip("/") == "/devices":
            self._send(h, 200, [d.status() for d in self.devices.values()])
        elif h.path.startswith("/devices/"):
            device = self._device(h)
            if device is not None:
                self._send(h, 200, device.status())
        else:
            self._send(h, 404, {"error": "try GET /devices"})

    def _post(self, h: BaseHTTPRequestHandler) -> None:
        if not h.path.startswith("/devices/"):
            self._send(h, 404, {"error": "POST /devices/<name>"})
            return
        device = self._device(h)
        if device is None:
            return
        try:
            length = int(h.headers.get("Content-Length") or 0)
            commands = json.loads(h.rfile.read(length) or b"{}")
            if not isinstance(commands, dict):
                raise SimError("the body must be a JSON object of commands")
            apply(device, commands, self.plugs.get(device.name))
        except (ValueError, SimError) as e:
            self._send(h, 400, {"error": str(e)})
            return
        self._send(h, 200, device.status())
