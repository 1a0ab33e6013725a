"""A supervised MQTT connection that owns its reconnects.

paho's own reconnect loop hides *why* a connection failed and keeps unacknowledged
messages inside the client object. We want both the other way round: the uplink journal
needs the cause (DNS, TCP connect, TLS, MQTT refusal, keepalive loss) and the outbox, not
paho, is what keeps messages across reconnects and restarts. So this module drives one
fresh paho client per connection on its own thread (``connect`` then ``loop``), reports
what happened to a listener, and waits between attempts with decorrelated jitter. Given
several brokers (the nodes of a cluster), it tries them in turn (``BrokerRotation``).

Rules kept here:
- no callback raises into paho: every callback is wrapped, errors are logged and counted;
- the network thread records a beat on every turn; ``check()`` restarts the thread if it
  died, and tells the supervisor how long ago it last turned (a stuck loop stops the
  systemd watchdog);
- secrets are handed to paho and never logged.
"""

from __future__ import annotations

import logging
import random
import socket
import sys
import threading
import time
from collections.abc import Callable

from agent.backoff import Backoff
from agent.deferred import NeverRaised, import_deferring
from agent.link_settings import LinkSettings, ssl_context
from parkwatch.core.broker import BrokerRotation

# ssl and the rest load when paho first uses them: for TLS (``ssl_context`` imports ssl
# before paho sees a socket), WebSockets, a SOCKS proxy. A plain connection never does.
mqtt = import_deferring("paho.mqtt.client", {
    "ssl": {"SSLWantReadError": NeverRaised, "SSLWantWriteError": NeverRaised},
    "hashlib": {}, "urllib.request": {}, "uuid": {}})
__all__ = ["LinkSettings", "MqttLink"]

log = logging.getLogger("parkwatch.agent.mqtt")

STABLE_S = 10.0  # a session that lasted this long resets the backoff
REPEAT_LOG_S = 600.0  # how often an unchanged connection failure is logged again


class MqttLink:
    """One broker connection, kept up. The listener gets (all on the network thread):

    ``link_will() -> (topic, payload)`` before each attempt; ``link_subscriptions()``;
    ``link_up(gen)`` after an accepted CONNACK (publish with ``gen`` there; the link counts
    as connected for everyone else only after it returns); ``link_down(gen, how, last_in)``
    with ``how`` in closed / keepalive / requested and the monotonic time of the last packet
    from the broker (CONNACK, SUBACK or a message); ``link_failed(cause, detail,
    attempt_mono)``; ``link_acked(gen, mid)`` for each QoS 1 PUBACK (and each QoS 0 message
    written: ignore mids you did not send at QoS 1); ``link_message(topic, payload, retain)``.
    """

    def __init__(self, settings: LinkSettings, listener, *, mono=time.monotonic,
                 rng: Callable[[], float] = random.random, resolve=socket.getaddrinfo):
        self.s = settings
        self.resolve = resolve  # the name lookup, separate so a DNS failure is named as one
        self.listener = listener
        self.mono = mono
        self.connected = threading.Event()
        self.generation = 0
        self.callback_errors = 0
        self.loop_errors = 0
        self.thread_restarts = 0
        self.last_beat = mono()
        self.last_in: float | None = None
        self.backoff = Backoff(settings.reconnect_min_s, settings.reconnect_max_s, rng)
        self.rotation = BrokerRotation(((settings.host, settings.port), *settings.more))
        self._ssl = ssl_context(settings) if settings.tls else None
        self._client: mqtt.Client | None = None
        self._session = False
        self._refused: str | None = None
        self._lost_how: str | None = None
        self._last_logged: tuple[str, float] = ("", 0.0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- public --------------------------------------------------------------------------

    @property
    def broker(self) -> str:
        """``host:port`` of the broker in use (or tried next)."""
        host, port = self.rotation.current
        return f"{host}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mqtt", daemon=True)
        self._thread.start()

    def check(self) -> float:
        """Restart a dead network thread; return the seconds since the loop last turned."""
        if self._thread is not None and not self._thread.is_alive() and not self._stop.is_set():
            self.thread_restarts += 1
            log.error("the MQTT network thread died; restarting it (restart %d)",
                      self.thread_restarts)
            self._lost_connection()
            self.last_beat = self.mono()
            self.start()
        return self.mono() - self.last_beat

    def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False,
                gen: int | None = None) -> int | None:
        """Hand a message to the current connection; its mid, or None when there is none
        (or it is no longer connection ``gen``)."""
        client = self._client
        if client is None or not self._session or (gen is not None and gen != self.generation):
            return None
        info = client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return None
        return info.mid

    def stop(self, last: tuple[str, bytes] | None = None, timeout: float = 5.0) -> bool:
        """Publish ``last`` (QoS 1, retained) if connected, then disconnect cleanly.

        Returns whether ``last`` was acknowledged. A clean DISCONNECT suppresses the Will,
        which is why the caller says offline itself.
        """
        sent = False
        client = self._client
        if client is not None and self._session and last is not None:
            try:
                info = client.publish(last[0], last[1], qos=1, retain=True)
                info.wait_for_publish(timeout)
                sent = info.is_published()
            except (RuntimeError, ValueError) as e:
                log.warning("could not publish the last message: %s", e)
        self._stop.set()
        if client is not None:
            client.disconnect()
        if self._thread is not None:
            self._thread.join(timeout)
        self._drop_client()
        return sent

    # --- the network thread ------------------------------------------------------------------

    def _beat(self) -> None:
        self.last_beat = self.mono()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._cycle()
            except Exception:
                self.loop_errors += 1
                log.exception("error in the MQTT loop (counted); reconnecting")
                self._lost_connection()
                self._stop.wait(self.backoff.next())

    def _lost_connection(self) -> None:
        """The loop failed or died: whatever connection it had is gone; say so."""
        if self.connected.is_set():
            self.connected.clear()
            self._call("link_down", self.generation, "closed", self.last_in)
        self._drop_client()

    def _cycle(self) -> None:
        self._beat()
        attempt = self.mono()
        cause, detail = self._connect()
        if cause is not None:
            self._drop_client()
            self._call("link_failed", cause, detail, attempt)
            if self.rotation.failed():  # every broker of the list failed in a row
                self._stop.wait(self.backoff.next())
            return
        self.rotation.connected()
        up_since = self.mono()
        gen = self.generation
        how = self._serve()
        self.connected.clear()
        self._drop_client()
        if self.mono() - up_since >= STABLE_S:
            self.backoff.reset()
        self._call("link_down", gen, how, self.last_in)
        if not self._stop.is_set():
            log.warning("lost the broker %s (%s); reconnecting", self.broker, how)
            self.rotation.lost()
            self._last_logged = ("", 0.0)
            self._stop.wait(self.backoff.next())

    def _connect(self) -> tuple[str | None, str]:
        s = self.s
        (host, port), where = self.rotation.current, self.broker
        client = self._client = self._new_client()
        try:
            self.resolve(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as e:
            return self._fail("dns", f"cannot resolve {host}: {e}")
        self._beat()
        try:
            client.connect(host, port, keepalive=s.keepalive_s)
        except socket.gaierror as e:
            return self._fail("dns", f"cannot resolve {host}: {e}")
        except OSError as e:  # ssl.SSLError and ssl.CertificateError are OSErrors
            if self._ssl is not None and isinstance(e, sys.modules["ssl"].SSLError):
                return self._fail("tls", f"TLS handshake with {where} failed: {e}")
            return self._fail("tcp_connect", f"cannot connect to {where}: {e}")
        except Exception as e:  # paho refusing its arguments, say: still a failed attempt
            return self._fail("unknown", f"cannot connect to {where}: {e!r}")
        deadline = self.mono() + s.connect_timeout_s
        while not self._stop.is_set():
            rc = client.loop(0.1)
            self._beat()
            if self._session:
                return None, ""
            if self._refused is not None:
                return self._fail("mqtt_refused", f"broker refused the connection: "
                                  f"{self._refused}")
            if rc != mqtt.MQTT_ERR_SUCCESS:
                return self._fail("mqtt_refused", f"broker closed the connection before "
                                  f"accepting it ({mqtt.error_string(rc)})")
            if self.mono() > deadline:
                return self._fail("unknown", f"no CONNACK within {s.connect_timeout_s}s")
        return self._fail("unknown", "stopped while connecting")

    def _fail(self, cause: str, detail: str) -> tuple[str, str]:
        # A year-long outage must not write a line per attempt: say each new problem, then
        # repeat it every REPEAT_LOG_S while it lasts.
        now = self.mono()
        if self._stop.is_set():
            log.debug("connection attempt ended by shutdown: %s", detail)
        elif detail != self._last_logged[0] or now - self._last_logged[1] >= REPEAT_LOG_S:
            log.warning("cannot reach broker %s: %s", self.broker, detail)
            self._last_logged = (detail, now)
        else:
            log.debug("cannot reach broker %s: %s", self.broker, detail)
        return cause, detail

    def _serve(self) -> str:
        client = self._client
        while True:
            rc = client.loop(0.2)
            self._beat()
            if rc != mqtt.MQTT_ERR_SUCCESS:
                break
        if self._stop.is_set():
            return "requested"
        return self._lost_how or "closed"

    def _new_client(self) -> mqtt.Client:
        s = self.s
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=s.client_id,
                             protocol=mqtt.MQTTv311, clean_session=True)
        client.suppress_exceptions = True  # second line of defence; _guard is the first
        client.connect_timeout = s.connect_timeout_s
        client.max_inflight_messages = 100
        if s.username is not None:
            client.username_pw_set(s.username, s.password.reveal() if s.password else None)
        if self._ssl is not None:
            client.tls_set_context(self._ssl)
        topic, payload = self.listener.link_will()
        client.will_set(topic, payload, qos=1, retain=True)
        client.on_connect = self._guard(self._on_connect)
        client.on_disconnect = self._guard(self._on_disconnect)
        client.on_publish = self._guard(self._on_publish)
        client.on_message = self._guard(self._on_message)
        client.on_subscribe = self._guard(self._on_subscribe)
        self._session, self._refused, self._lost_how = False, None, None
        return client

    def _drop_client(self) -> None:
        client, self._client, self._session = self._client, None, False
        if client is not None:
            try:
                # What paho's own __del__ does; done now so a long outage of failed
                # attempts does not wait on the garbage collector for its descriptors.
                client._reset_sockets()
            except Exception:  # pragma: no cover - best effort on a client we discard
                log.debug("closing a discarded MQTT client failed", exc_info=True)

    # --- callbacks: run inside paho, never raise --------------------------------------------

    def _guard(self, fn):
        def guarded(*args, **kwargs):
            try:
                fn(*args, **kwargs)
            except Exception:
                self.callback_errors += 1
                log.exception("error in MQTT callback %s (counted, not raised)", fn.__name__)
        guarded.__name__ = fn.__name__
        return guarded

    def _call(self, method: str, *args) -> None:
        try:
            getattr(self.listener, method)(*args)
        except Exception:
            self.callback_errors += 1
            log.exception("error in %s (counted, not raised)", method)

    def _heard(self) -> None:
        self.last_in = self.mono()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self._refused = str(reason_code)
            return
        self._heard()
        self._session = True
        self.generation += 1
        for topic, qos in self.listener.link_subscriptions():
            client.subscribe(topic, qos)
        log.info("connected to %s", self.broker)
        self._call("link_up", self.generation)
        self.connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        if self._stop.is_set():
            self._lost_how = "requested"
        elif str(reason_code) == "Keep alive timeout":
            self._lost_how = "keepalive"
        else:
            self._lost_how = "closed"

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        # paho calls this on a QoS 1 PUBACK, and also when a QoS 0 message is written: the
        # listener matches mids against what it sent at QoS 1. (Filtering here would race:
        # publish() can write and the PUBACK be read before it returns the mid.)
        self._call("link_acked", self.generation, mid)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        self._heard()

    def _on_message(self, client, userdata, message):
        self._heard()
        self._call("link_message", message.topic, message.payload, bool(message.retain))
