"""What paho's thread received, waiting for the ingest worker: a queue in which heartbeats
coalesce and nothing else is ever shed.

Each entry is ``[item, payload, first, at, merged, ack, key]``: ``item`` a topic (or a
connection change, or None for a message already refused), ``first`` when the entry was
received, ``at`` when its payload was. A heartbeat (QoS 0, not retained) whose site already
has a heartbeat waiting takes that one's place (latest per site wins, ``at`` moves on,
``first`` and the position stay): the worker reads one heartbeat per site however far behind
it is, and ``first`` of the oldest entry stays the time up to which everything received has
been handled or replaced by something newer of the same site (``read_to``). An event or a
status of a site ends its waiting heartbeat's entry (later heartbeats queue behind it), so a
site's messages are handled in the order they came. Events and statuses are never shed.
"""

from __future__ import annotations

import fcntl
import sys
import termios
import threading
from collections import deque

import paho.mqtt.client as mqtt

HEARTBEAT_SUFFIX = b"/heartbeat"
READ_BURST = 512  # packets paho's thread reads per wake-up at most (BurstClient)


class Inbox:
    def __init__(self):
        self._queue: deque[list] = deque()
        self._waiting: dict[bytes, list] = {}  # heartbeat topic -> its entry in the queue
        self._lock = threading.Lock()
        self.shed = 0  # heartbeats replaced by a later one of their site, never handled

    def __len__(self) -> int:
        return len(self._queue)

    def __bool__(self) -> bool:
        return bool(self._queue)

    def heartbeat(self, key: bytes, topic: str, payload: bytes, now: float) -> None:
        """A heartbeat of topic ``key`` (bytes as on the wire, ``topic`` decoded)."""
        with self._lock:
            entry = self._waiting.get(key)
            if entry is not None:
                entry[1], entry[3] = payload, now
                entry[4] += 1
                self.shed += 1
                return
            entry = [topic, payload, now, now, 0, None, key]
            self._waiting[key] = entry
            self._queue.append(entry)

    def put(self, item, payload, now: float, ack=None, key: bytes | None = None) -> None:
        """Anything else: kept in order and never shed. ``key``: the raw topic of an event
        or status, whose site's waiting heartbeat stops taking later ones."""
        with self._lock:
            if key is not None and self._waiting:
                self._waiting.pop(key.rpartition(b"/")[0] + HEARTBEAT_SUFFIX, None)
            self._queue.append([item, payload, now, now, 0, ack, None])

    def pop(self) -> list | None:
        with self._lock:
            if not self._queue:
                return None
            entry = self._queue.popleft()
            key = entry[6]
            if key is not None and self._waiting.get(key) is entry:
                del self._waiting[key]
            return entry

    def push_back(self, entry: list) -> None:
        """An entry the worker could not store: first again (it takes no later heartbeat)."""
        with self._lock:
            self._queue.appendleft(entry)

    def read_to(self, now: float) -> float:
        """Everything received before this has been handled (or replaced)."""
        queue = self._queue
        try:
            return min(now, queue[0][2])
        except IndexError:
            return now


def unread_bytes(sock) -> int:
    """Bytes waiting unread in a socket (0 when there is none or it closed meanwhile)."""
    if sock is None:
        return 0
    try:
        buf = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
    except (OSError, ValueError):
        return 0
    return int.from_bytes(buf, sys.byteorder)


class BurstClient(mqtt.Client):
    """paho reads one packet per wake-up of its network thread, and each wake-up waits for
    the GIL behind the worker: under load the socket fills, then the broker drops. This
    reads what is there (up to READ_BURST packets) at each wake-up."""

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        for _ in range(READ_BURST):
            if self._sock is None:
                return mqtt.MQTTErrorCode.MQTT_ERR_NO_CONN
            rc = self._packet_read()
            if rc > 0:
                return self._loop_rc_handle(rc)
            if rc == mqtt.MQTTErrorCode.MQTT_ERR_AGAIN:
                break
        return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
