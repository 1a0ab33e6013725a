"""A NATS cluster as the fleet's MQTT broker: each node's nats-server config.

Pure: nodes, accounts and a store folder in, config texts out (``cluster_cli.py`` writes
them). What a node gets:

- JetStream (NATS keeps MQTT sessions, QoS 1 messages and retained messages in it), with
  the MQTT streams replicated on three nodes (``stream_replicas``), so that losing any one
  node loses no session, queued event or retained status;
- cluster routes to every other node, which log in with a route password;
- an MQTT listener, and the client and monitoring ports NATS always has (monitoring on
  loopback only: it is unauthenticated);
- ``accounts.conf``: one NATS account holding the same users as `parkwatch broker config`
  gives mosquitto (``brokerconf.site_account``/``collector_account``), each allowed only
  MQTT connections and only its topics, as NATS subjects; with ``partitions``, also the
  subject mapping (``collector.fleet.partitions.mapping``) that moves every fleet message
  to ``part/<n>/...``, and the collector's grant to read there (``PARTITION_READS``).

NATS reads MQTT topic ``a/b`` as subject ``a.b``; ``+`` is ``*`` and a trailing ``#`` is
both the parent and ``.>``. NATS 2.9 refuses a ``.`` in an MQTT topic, so a project or site
whose id holds one cannot use the cluster (``topic_ok``). Passwords are bcrypt hashes (the
only hash nats-server reads) of the same random passwords the registry hands out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from collector.fleet import partitions as _partitions
from collector.fleet.brokerconf import Account

ACCOUNT = "PARKWATCH"
CLUSTER_NAME = "parkwatch"
ACCOUNTS_FILE = "accounts.conf"
ROUTE_USER = "route"
# Each password is 24 random bytes (new_password): no guessing attack is slowed down by a
# dearer hash, while every reconnect pays for it. After a node dies, a third of the fleet
# logs in again at once: cost 4 (~1 ms) keeps that storm cheap, as mosquitto's 101 rounds do.
BCRYPT_COST = 4
QOS1_DELIVERY = "$MQTT.sub.>"  # where NATS hands QoS 1 messages to an MQTT subscriber
PARTITION_READS = "part.>"  # where the partition mapping puts the fleet's messages
MAX_PARTITIONS = 1024
_SAFE_NAME = re.compile(r"[A-Za-z0-9_.@/-]{1,128}")


class ClusterError(ValueError):
    """A cluster the config writer refuses to describe; the text says why."""


@dataclass(frozen=True)
class Node:
    name: str
    host: str
    mqtt_port: int
    cluster_port: int
    client_port: int
    http_port: int

    @property
    def mqtt_url(self) -> str:
        return f"mqtt://{self.host}:{self.mqtt_port}"


@dataclass(frozen=True)
class User:
    """A broker account as NATS holds it: the bcrypt hash and the allowed subjects."""

    username: str
    bcrypt_hash: str
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


def bcrypt_hash(password: str) -> str:
    import bcrypt

    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_COST)).decode()


def topic_ok(topic: str) -> bool:
    """Whether NATS 2.9's MQTT can carry this topic (or filter) at all."""
    return bool(topic) and not any(c in topic for c in ". \t\r\n") \
        and not topic.startswith("/") and not topic.endswith("/") and "//" not in topic


def subjects(topic_filter: str) -> tuple[str, ...]:
    """The NATS subjects a permission needs to allow what this MQTT topic filter allows."""
    if not topic_ok(topic_filter):
        raise ClusterError(f"topic {topic_filter!r} cannot be carried by NATS MQTT "
                           "(no '.', spaces, empty levels or leading/trailing '/')")
    levels = topic_filter.split("/")
    if "#" in levels[:-1] or any(("#" in t or "+" in t) and len(t) > 1 for t in levels):
        raise ClusterError(f"topic filter {topic_filter!r} uses + or # inside a level")
    tokens = ["*" if t == "+" else t for t in levels]
    if tokens[-1] != "#":
        return (".".join(tokens),)
    if len(tokens) == 1:
        return (">",)
    parent = ".".join(tokens[:-1])
    return parent, f"{parent}.>"  # MQTT's a/# matches a itself too


def check_partitions(count: int | None) -> None:
    if count is not None and not 1 <= count <= MAX_PARTITIONS:
        raise ClusterError(f"--partitions must be 1-{MAX_PARTITIONS}, not {count}")


def user(account: Account, bcrypt_hash: str, qos1_reads: bool = False,
         partition_reads: bool = False) -> User:
    """``account`` (what mosquitto's ACL grants) as a NATS user; ``qos1_reads`` for a
    client that subscribes at QoS 1 (the collector), which NATS delivers through
    ``$MQTT.sub.<id>``. Sites subscribe at QoS 0 and get no such grant.
    ``partition_reads``: also ``part/#``, where a partition mapping moves what it reads
    (the Wills stay on ``parkwatch/v1/<p>/<s>/status``, which it keeps reading)."""
    if not _SAFE_NAME.fullmatch(account.username):
        raise ClusterError(f"user name {account.username!r}: NATS configs written here take "
                           "1-128 letters, digits and _ . @ / - only")
    sub = tuple(s for t in account.read for s in subjects(t))
    return User(account.username, bcrypt_hash, tuple(s for t in account.write
                                                     for s in subjects(t)),
                sub + ((PARTITION_READS,) if partition_reads else ())
                + ((QOS1_DELIVERY,) if qos1_reads else ()))


def _under_partitions(subjects_: tuple[str, ...], count: int | None) -> tuple[str, ...]:
    """Each fleet subject of ``subjects_`` under ``part.<n>.``: n its site's partition of
    ``count``, or any (``None``)."""
    extra = []
    for subject in subjects_:
        tokens = subject.split(".")
        if len(tokens) == 5 and tokens[:2] == ["parkwatch", "v1"] and ">" not in tokens:
            project, site = tokens[2:4]
            n = "*" if count is None or "*" in (project, site) else \
                _partitions.partition_of(project, site, count)
            extra.append(f"part.{n}.{subject}")
    return tuple(extra)


def partitioned(u: User, count: int) -> User:
    """``u`` on a cluster mapping to ``count`` partitions. nats-server 2.9 checks a
    publish permission on the subject AFTER the mapping: each fleet subject ``u`` may
    publish is granted under ``part.<n>.`` too (n its site's partition), the original
    staying for the Will (checked at CONNECT, published unmapped). What it reads of the
    fleet (a site's own heartbeat echo) arrives mapped, so it may read that too, under any
    partition (the agent knows none: it subscribes to ``part/+/...``; nobody else may
    publish the subject, and the mapping puts it under one)."""
    return User(u.username, u.bcrypt_hash, u.publish + _under_partitions(u.publish, count),
                u.subscribe + _under_partitions(u.subscribe, None))


def _q(text: str) -> str:
    """A double-quoted string of NATS's config syntax (the names here need no escapes)."""
    if any(c in text for c in '"\\\n\r'):
        raise ClusterError(f"{text!r} cannot be written into a NATS config")
    return f'"{text}"'


def _list(items: Iterable[str]) -> str:
    return "[" + ", ".join(_q(i) for i in items) + "]"


def accounts_conf(users: Iterable[User], partitions: int | None = None) -> str:
    """``accounts.conf``: one JetStream account with every user, each confined to MQTT;
    with ``partitions``, the account's mapping of the fleet's topics to that many."""
    check_partitions(partitions)
    if partitions is not None:
        users = [partitioned(u, partitions) for u in users]
    out = ["# written by parkwatch cluster config from the fleet registry; do not edit by",
           "# hand: run it again after parkwatch site add/remove/passwd, then reload every",
           "# node (kill -HUP its pid)",
           "accounts {", f"  {ACCOUNT} {{", "    jetstream: enabled", "    users: ["]
    names = set()
    for u in users:
        if u.username in names:
            raise ClusterError(f"user {u.username!r} is given twice")
        names.add(u.username)
        out += ["      {",
                f"        user: {_q(u.username)}",
                f"        password: {_q(u.bcrypt_hash)}",
                '        allowed_connection_types: ["MQTT"]',
                f"        permissions: {{publish: {{allow: {_list(u.publish)}}},",
                f"                      subscribe: {{allow: {_list(u.subscribe)}}}}}",
                "      }"]
    out.append("    ]")
    if partitions is not None:
        src, dst = _partitions.mapping(partitions)
        out += ["    # every fleet message moves to part.<n>. (MQTT part/<n>/...), before the",
                "    # publish permission check (hence the part.<n>. grants); a Will is not",
                "    # mapped",
                f"    mappings: {{ {_q(src)}: {_q(dst)} }}"]
    out += ["  }", "}"]
    return "\n".join(out) + "\n"


def node_conf(node: Node, nodes: Sequence[Node], store_dir: str, route_password: str,
              ack_wait_s: int | None = None) -> str:
    """One node's ``nats-server -c`` file; ``accounts.conf`` sits beside it. ``ack_wait_s``:
    how long a QoS 1 message delivered and not acknowledged waits before NATS sends it
    again (NATS's default 30 s when None): also how long a client taking over a dead
    one's session waits for what the dead one had been sent."""
    replicas = min(3, len(nodes))
    routes = [f"nats-route://{ROUTE_USER}:{route_password}@{n.host}:{n.cluster_port}"
              for n in nodes if n.name != node.name]
    return "\n".join([
        f"# written by parkwatch cluster config: node {node.name} of {len(nodes)}",
        f"server_name: {_q(node.name)}",
        f"listen: {_q(f'{node.host}:{node.client_port}')}",
        f"http: {_q(f'127.0.0.1:{node.http_port}')}  # monitoring: /healthz, unauthenticated",
        "jetstream {",
        f"  store_dir: {_q(store_dir)}",
        "}",
        "cluster {",
        f"  name: {_q(CLUSTER_NAME)}",
        f"  listen: {_q(f'{node.host}:{node.cluster_port}')}",
        f"  authorization {{ user: {_q(ROUTE_USER)}, password: {_q(route_password)} }}",
        f"  routes: {_list(routes)}",
        "}",
        "mqtt {",
        f"  listen: {_q(f'{node.host}:{node.mqtt_port}')}",
        f"  stream_replicas: {replicas}  # sessions, QoS 1 and retained messages",
        *([f'  ack_wait: "{ack_wait_s}s"  # QoS 1 sent again when not acknowledged']
          if ack_wait_s is not None else []),
        "}",
        f"include {ACCOUNTS_FILE}",
    ]) + "\n"


def check_nodes(nodes: Sequence[Node]) -> None:
    if not nodes:
        raise ClusterError("a cluster needs at least one node")
    names = [n.name for n in nodes]
    if len(set(names)) != len(names):
        raise ClusterError("two nodes have the same name")
    used: dict[tuple[str, int], str] = {}
    for n in nodes:
        for what in ("mqtt_port", "cluster_port", "client_port", "http_port"):
            port = getattr(n, what)
            if not 1 <= port <= 65535:
                raise ClusterError(f"node {n.name}: {what.replace('_', ' ')} {port} is not "
                                   "1-65535")
            key = (n.host, port)  # (monitoring listens on that host's loopback)
            if key in used:
                raise ClusterError(f"port {port} on {n.host} is used twice ({used[key]} and "
                                   f"node {n.name}'s {what.replace('_', ' ')})")
            used[key] = f"node {n.name}'s {what.replace('_', ' ')}"


def configs(nodes: Sequence[Node], users: Iterable[User], store_root: str,
            route_password: str, partitions: int | None = None,
            ack_wait_s: int | None = None) -> dict[str, str]:
    """Every file of the cluster by name: ``<node>.conf`` for each node and
    ``accounts.conf``; node ``N`` keeps its JetStream files in ``store_root/N``."""
    check_nodes(nodes)
    check_partitions(partitions)
    if ack_wait_s is not None and not 1 <= ack_wait_s <= 3600:
        raise ClusterError(f"--ack-wait must be 1-3600 seconds, not {ack_wait_s}")
    out = {f"{n.name}.conf": node_conf(n, nodes, f"{store_root.rstrip('/')}/{n.name}",
                                       route_password, ack_wait_s) for n in nodes}
    out[ACCOUNTS_FILE] = accounts_conf(users, partitions)
    return out


def plan(count: int, host: str, mqtt: Sequence[int], cluster: Sequence[int],
         client: Sequence[int], http: Sequence[int], prefix: str = "nats") -> list[Node]:
    """``count`` nodes on ``host``: each port list holds one port per node, or one base
    port that the nodes take in turn (1883, 1884, 1885 ...)."""
    if not 1 <= count <= 9:
        raise ClusterError("a cluster here has 1-9 nodes (3 is what survives losing one)")

    def ports(given: Sequence[int], what: str) -> list[int]:
        if len(given) == 1:
            return [given[0] + i for i in range(count)]
        if len(given) != count:
            raise ClusterError(f"--{what}-port lists {len(given)} ports for {count} nodes "
                               "(give one base port, or one for each node)")
        return list(given)

    columns = zip(ports(mqtt, "mqtt"), ports(cluster, "cluster"), ports(client, "client"),
                  ports(http, "http"), strict=True)
    return [Node(f"{prefix}-{i + 1}", host, *p) for i, p in enumerate(columns)]
