"""The collector's session with the broker: login, subscription, loss, and what each means
for the time the collector counts itself as watching.

The collector is watching (``connected``; the link is up in the core, so silence counts
against sites) only once the broker has **granted** its subscription, not when it accepted
the login: a broker that refuses the subscription (an ACL that does not give the
collector's account the fleet's topics, or a NATS cluster whose JetStream is not ready for
a QoS 1 subscription yet) delivers nothing, and every site would fall silent on evidence
the collector never had. A refused subscription is a fatal problem (``/healthz`` not ok)
and is asked again, 1 s later and then up to every 30 s, on the same connection. With
several brokers (``broker = [...]``, a cluster's nodes) a failed or lost connection moves on
to the next node, as the agent does.
``Ingest`` mixes this in; it owns ``client``, ``connected``, ``_put`` and ``_stop``.
"""

from __future__ import annotations

import logging
import ssl
import sys
import threading

from parkwatch.core import wire

log = logging.getLogger("parkwatch.collector")
RESUBSCRIBE_S = (1.0, 30.0)  # first and longest wait before asking again


class BrokerSession:
    broker_problem: str | None = None
    _last_problem: str | None = None
    _session = 0  # counts connections: an ack belongs to the one that delivered
    _watching = False  # this connection's subscription was granted (the link is up)
    _resubscribe_s = RESUBSCRIBE_S[0]
    subscriptions: tuple[str, ...] = (wire.SUBSCRIPTION,)  # a partition's are its own

    def _subscribe(self, client) -> None:
        client.subscribe([(topic, 1) for topic in self.subscriptions])

    def _problem(self, problem: str | None, fatal: bool = True) -> None:
        """Log a connection problem once (not once per retry); a fatal one (the broker
        refused the login or the subscription, TLS failed) is also what /healthz reports
        until it is gone."""
        if problem is not None and problem != self._last_problem:
            log.log(logging.ERROR if fatal else logging.WARNING, "%s; retrying (logged once)",
                    problem)
        self._last_problem = problem
        self.broker_problem = problem if fatal else None

    _node = 0  # which of the configured brokers this session is trying or on
    _closing = False  # stopping: a disconnect is asked for, not a node lost

    @property
    def broker(self):
        nodes = self.cfg.brokers or (self.cfg.broker,)
        return nodes[self._node % len(nodes)]

    def _next_node(self, client) -> None:
        """Try the next of a cluster's nodes at paho's next reconnect (one broker: the same)."""
        if len(self.cfg.brokers) > 1 and not self._closing:
            self._node += 1
            b = self.broker
            client.connect_async(b.host, b.port, keepalive=b.keepalive_s)
            log.info("trying the broker %s:%d next", b.host, b.port)

    def _on_connect_fail(self, client, userdata):
        e = sys.exc_info()[1]  # paho calls this while handling the connect error
        b = self.broker
        self._next_node(client)
        if isinstance(e, ssl.SSLError) or (b.tls and isinstance(e, ConnectionResetError)):
            # A reset in the handshake: most likely no TLS listener on that port.
            self._problem(f"TLS with the broker {b.host}:{b.port} failed: {e}")
        else:
            self._problem(f"cannot reach the broker: {e or 'connect failed'}", fatal=False)

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            who = self.cfg.mqtt.username or "(anonymous)"
            self._problem(f"the broker refused the login of {who}: {reason_code}")
            return
        self._session += 1
        self._resubscribe_s = RESUBSCRIBE_S[0]
        self._subscribe(client)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        if any(rc.is_failure for rc in reason_codes):
            self._problem(f"the broker refused the subscription to "
                          f"{', '.join(self.subscriptions)} "
                          f"({reason_codes[0]}): nothing is heard, so nothing is counted "
                          "as watched")
            session, wait = self._session, self._resubscribe_s
            self._resubscribe_s = min(RESUBSCRIBE_S[1], wait * 2)
            timer = threading.Timer(wait, self._resubscribe, (session,))
            timer.daemon = True
            timer.start()
            return
        self._problem(None)
        if not self._watching:
            self._watching = True
            self._put(True)
            self.connected.set()
        log.info("subscribed to %s", ", ".join(self.subscriptions))

    def _resubscribe(self, session: int) -> None:
        if session == self._session and not self._stop.is_set() and self.client.is_connected():
            self._subscribe(self.client)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.connected.clear()
        if self._watching:
            self._watching = False
            self._put(False)
        if not (self._stop.is_set() or self._closing) and self._last_problem is None:
            log.warning("lost the broker: %s; reconnecting", reason_code)
        if not self._stop.is_set():
            self._next_node(client)
