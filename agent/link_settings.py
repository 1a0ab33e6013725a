"""What one MQTT link (agent/mqtt_link.py) is set up with: the brokers, the account, TLS
files and reconnect pacing, taken from the agent's config by agent/service.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ssl


@dataclass(frozen=True)
class LinkSettings:
    host: str
    port: int
    client_id: str
    keepalive_s: int = 30
    tls: bool = False
    username: str | None = None
    password: object = field(default=None, repr=False)  # a config.Secret, or None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    connect_timeout_s: float = 10.0
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 60.0
    more: tuple[tuple[str, int], ...] = ()  # other brokers (host, port), tried in turn


def ssl_context(s: LinkSettings) -> ssl.SSLContext:
    import ssl

    ctx = ssl.create_default_context(cafile=s.ca_file)  # no ca_file: the system's CAs
    if s.cert_file:
        ctx.load_cert_chain(s.cert_file, s.key_file)
    return ctx
