"""The broker both halves talk to: its URL and the ``[mqtt]`` table (account, TLS files,
reconnect pacing, clock beacons), read the same way from the agent's and the collector's
config. An agent may name several URLs, the nodes of one broker cluster, tried in turn
(``parse_broker_urls``, ``BrokerRotation``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from parkwatch.core import wire
from parkwatch.core.conf import Section


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    tls: bool = False
    keepalive_s: int = 30


class Secret:
    """A password: handed to the MQTT client, never shown in a log, repr or error."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class MqttOptions:
    """The ``[mqtt]`` table: authentication, TLS files, reconnect pacing, clock beacons."""

    username: str | None = None
    password: Secret | None = field(default=None, repr=False)
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    connect_timeout_s: float = 10.0
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 60.0
    clock_topic: str | None = wire.CLOCK_TOPIC


MAX_BROKERS = 16  # URLs in one agent's list: the nodes of a cluster, not a directory


def parse_broker_url(section: Section, key: str) -> Broker:
    return _broker(section, key, section.str(key))


def parse_broker_urls(section: Section, key: str) -> tuple[Broker, ...]:
    """``key`` as one URL or a list of them (the nodes of one cluster, tried in turn).

    All must be ``mqtt://`` or all ``mqtts://``: a list mixing them would fall back to plain
    text whenever the TLS nodes are out of reach."""
    if not isinstance(section.data.get(key), list):
        return (parse_broker_url(section, key),)  # one URL, read as always
    urls = section.strs(key)
    if not urls:
        raise section.error(key, "is an empty list; give at least one URL")
    if len(urls) > MAX_BROKERS:
        raise section.error(key, f"lists {len(urls)} URLs; at most {MAX_BROKERS}")
    brokers = tuple(_broker(section, key, url) for url in urls)
    if len({b.tls for b in brokers}) > 1:
        raise section.error(key, "mixes mqtt:// and mqtts://; use one scheme for every URL "
                                 "(a TLS list must not fall back to plain text)")
    seen = [(b.host, b.port) for b in brokers]
    for i, hp in enumerate(seen):
        if hp in seen[:i]:
            raise section.error(key, f"lists {hp[0]}:{hp[1]} twice")
    return brokers


def _broker(section: Section, key: str, url: str) -> Broker:
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise section.error(
            key, f"must look like mqtt://host:port or mqtts://host:port, got {url!r}")
    if parts.username is not None or parts.password is not None:
        # Never dropped in silence (the broker would then see an anonymous client), and
        # never taken from a URL (it ends up in logs and process listings).
        raise section.error(key, "must not carry credentials; give [mqtt] username and "
                                 "password or password_file")
    try:
        port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
    except ValueError:
        raise section.error(key, f"has an invalid port: {url!r}") from None
    return Broker(host=parts.hostname, port=port, tls=parts.scheme == "mqtts")


class BrokerRotation:
    """Which broker of the list the next connection attempt goes to, and whether to wait.

    The link stays on a broker while it works. After a failed attempt the next URL is tried
    at once, until every URL has failed once in a row: only then does the link wait its
    backoff (so one URL behaves exactly as before: a wait after every failure). After a
    lost connection the next URL is tried, after the usual wait."""

    def __init__(self, brokers: Sequence[tuple[str, int]]):
        if not brokers:
            raise ValueError("need at least one broker")
        self.brokers = tuple(brokers)
        self.index = 0
        self._failed = 0  # failed attempts since the last accepted connection

    @property
    def current(self) -> tuple[str, int]:
        return self.brokers[self.index]

    def _next(self) -> None:
        self.index = (self.index + 1) % len(self.brokers)

    def failed(self) -> bool:
        """An attempt on the current broker failed; True when the link should now wait."""
        self._failed += 1
        self._next()
        return self._failed % len(self.brokers) == 0

    def connected(self) -> None:
        self._failed = 0

    def lost(self) -> None:
        """The connection to the current broker was lost: the next attempt goes elsewhere."""
        self._failed = 0
        self._next()


def _readable(section: Section, key: str) -> str | None:
    value = section.str(key, None)
    if value is not None and not Path(value).is_file():
        raise section.error(key, f"no such file: {value}")
    return value


def mqtt_options(top: Section, tls: bool, agent_keys: bool = True) -> MqttOptions:
    """The ``[mqtt]`` table. The collector's has only the account and TLS keys
    (``agent_keys=False``): reconnect pacing and the clock topic are the agent's."""
    m = top.table("mqtt", optional=True)
    password = m.str("password", None)
    password_file = _readable(m, "password_file")
    if password is not None and password_file is not None:
        raise m.error("password_file", "give either password or password_file, not both")
    if password_file is not None:
        try:
            password = Path(password_file).read_text(encoding="utf-8").strip("\r\n")
        except (OSError, UnicodeDecodeError) as e:
            raise m.error("password_file", f"cannot be read ({type(e).__name__})") from None
        if not password:
            raise m.error("password_file", f"{password_file} is empty")
    pacing = {}
    if agent_keys:
        pacing = dict(connect_timeout_s=m.number("connect_timeout_s", 10.0, positive=True),
                      reconnect_min_s=m.number("reconnect_min_s", 1.0, positive=True),
                      reconnect_max_s=m.number("reconnect_max_s", 60.0, positive=True),
                      clock_topic=m.str("clock_topic", wire.CLOCK_TOPIC) or None)
    opts = MqttOptions(
        username=m.str("username", None),
        password=None if password is None else Secret(password),
        ca_file=_readable(m, "ca_file"), cert_file=_readable(m, "cert_file"),
        key_file=_readable(m, "key_file"), **pacing)
    if opts.password is not None and opts.username is None:
        raise m.error("username", "is missing (a password needs a username)")
    if opts.reconnect_max_s < opts.reconnect_min_s:
        raise m.error("reconnect_max_s", "must not be less than reconnect_min_s")
    if opts.key_file and not opts.cert_file:
        raise m.error("key_file", "needs cert_file (the client certificate)")
    for key in ("ca_file", "cert_file"):
        if getattr(opts, key) and not tls:
            raise m.error(key, "is set but the broker URL is mqtt://; use mqtts:// for TLS")
    if opts.clock_topic is not None and (not opts.clock_topic or "#" in opts.clock_topic
                                         or "+" in opts.clock_topic):
        raise m.error("clock_topic", "must be one topic name, without + or #")
    m.done()
    return opts
