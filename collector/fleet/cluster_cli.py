"""``parkwatch cluster config``: a NATS cluster's node configs and accounts from the registry.

Writes into ``--out DIR``: ``<node>.conf`` for each node (``nats-server -c DIR/nats-1.conf``),
``accounts.conf`` (every site's account and the collector's, as NATS users confined to MQTT
and to their topics), ``collector.password`` (made once and kept, as ``parkwatch broker
config`` does) and ``route.password`` (the nodes' password among themselves, kept too).
Run it again after ``parkwatch site add/remove/passwd`` and reload every node (SIGHUP).
``--partitions N`` adds the mapping of every fleet topic to ``part/<n>/...`` (n =
``partition_of(project, site, N)``) and the collector's grant to read there: only for a
cluster whose every collector consumes partitions (the mapping renames the topics).
"""

from __future__ import annotations

import os
import pwd
import sys
from pathlib import Path

from collector.fleet import brokerconf, cluster
from collector.fleet.broker_cli import DEFAULT_COLLECTOR_USER, _collector_password
from collector.fleet.site_cli import add_source_args, open_registry
from parkwatch.core.conf import UserError

NATS_USER = "nats"  # Debian's nats-server runs as this user (its systemd unit)


def _ports(text: str, what: str) -> list[int]:
    try:
        ports = [int(p) for p in text.split(",")]
    except ValueError:
        raise UserError(f"--{what}-port must be a port or a comma-separated list of ports, "
                        f"got {text!r}") from None
    return ports


def _kept_secret(path: Path) -> str:
    if path.is_file() and path.read_text().strip():
        return path.read_text().strip()
    secret = brokerconf.new_password()
    brokerconf.write_private(path, secret + "\n", owner=None)
    return secret


def _owned_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam(NATS_USER)
        except KeyError:
            return
        os.chown(path, pw.pw_uid, pw.pw_gid)


def _site_users(registry) -> tuple[list[cluster.User], list[str], list[str]]:
    """The sites' users; the sites left out for want of a bcrypt hash, and for a '.'."""
    hashes = registry.bcrypt_hashes()
    users, no_hash, dotted = [], [], []
    for account in registry.accounts():
        project, site = account.username.split("/")
        if not all(cluster.topic_ok(t) for t in (*account.read, *account.write)):
            dotted.append(account.username)
        elif hashes.get((project, site)) is None:
            no_hash.append(account.username)
        else:
            users.append(cluster.user(account, hashes[(project, site)]))
    return users, no_hash, dotted


def _some(names: list[str]) -> str:
    return ", ".join(names[:5]) + (" ..." if len(names) > 5 else "")


def run(args) -> int:
    registry, cfg = open_registry(args)
    user = args.collector_user or (cfg.mqtt.username if cfg and cfg.mqtt.username else
                                   DEFAULT_COLLECTOR_USER)
    if "/" in user:
        raise UserError(f"the collector's user name {user!r} may not hold '/' "
                        "(site accounts are <project>/<site>)")
    try:
        nodes = cluster.plan(args.nodes, args.host, _ports(args.mqtt_port, "mqtt"),
                             _ports(args.cluster_port, "cluster"),
                             _ports(args.client_port, "client"), _ports(args.http_port, "http"))
        cluster.check_nodes(nodes)
        cluster.check_partitions(args.partitions)
    except cluster.ClusterError as e:
        raise UserError(str(e)) from None
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    store = Path(args.store).resolve() if args.store else out / "jetstream"
    for node in nodes:
        _owned_dir(store / node.name)
    collector_pw = _collector_password(out / "collector.password")
    collector = cluster.user(brokerconf.collector_account(user, ""),
                             cluster.bcrypt_hash(collector_pw), qos1_reads=True,
                             partition_reads=args.partitions is not None)
    sites, no_hash, dotted = _site_users(registry)
    try:
        files = cluster.configs(nodes, [collector, *sites], str(store),
                                _kept_secret(out / "route.password"), args.partitions,
                                args.ack_wait)
    except cluster.ClusterError as e:
        raise UserError(str(e)) from None
    for name, text in files.items():
        brokerconf.write_private(out / name, text, owner=NATS_USER)  # hashes, route password
    print(f"wrote {len(nodes)} node config(s) and {cluster.ACCOUNTS_FILE} in {out}: "
          f"{len(sites)} site account(s) and the collector's ({user}, password in "
          f"{out / 'collector.password'})")
    if args.partitions is not None:
        print(f"partition mapping: {args.partitions} partition(s); collectors subscribe to "
              "part/<n>/parkwatch/v1/+/+/+ and read the Wills on parkwatch/v1/+/+/status")
    print("start each node: " + "; ".join(f"nats-server -c {out / n.name}.conf"
                                          for n in nodes))
    print("agents: broker = [" + ", ".join(f'"{n.mqtt_url}"' for n in nodes) + "]")
    missing = [f"{r['project']}/{r['site']}" for r in registry.list() if not r["account"]]
    for names, why in ((no_hash, "their password predates the cluster's password hashes: "
                                 "parkwatch site passwd PROJECT SITE gives them one"),
                       (dotted, "NATS 2.9 cannot carry a '.' in an MQTT topic: give them "
                                "ids without one"),
                       (missing, "no broker account yet: parkwatch site passwd PROJECT SITE "
                                 "gives one")):
        if names:
            print(f"parkwatch cluster: {len(names)} site(s) left out ({_some(names)}): "
                  f"{why}", file=sys.stderr)
    print("reload every running node to apply: kill -HUP <pid>", file=sys.stderr)
    return 0


# Each listener's default base port (the nodes take base, base + 1, ...) and what it is for.
BASE_PORTS = {"mqtt": (1883, "MQTT (agents, the collector)"),
              "cluster": (6222, "routes between the nodes"),
              "client": (4222, "NATS clients (no account may use it)"),
              "http": (8222, "monitoring, on 127.0.0.1 only")}


def add_parser(sub) -> None:
    c = sub.add_parser("cluster", help="a NATS cluster as the MQTT broker").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    p = c.add_parser("config", help="write each nats-server node's config and the accounts "
                                    "from the fleet registry")
    p.add_argument("--out", required=True, metavar="DIR", help="where the files go")
    add_source_args(p)
    p.add_argument("--nodes", type=int, default=3, help="how many nodes (default 3)")
    p.add_argument("--host", default="127.0.0.1",
                   help="the address every node listens on (default 127.0.0.1)")
    for name, (base, what) in BASE_PORTS.items():
        p.add_argument(f"--{name}-port", default=str(base), metavar="PORT[,PORT...]",
                       help=f"{what}: a base port the nodes take in turn ({base}, {base + 1} "
                            "...) or one port per node")
    p.add_argument("--store", metavar="DIR",
                   help="JetStream's files, a folder per node (default: DIR/jetstream)")
    p.add_argument("--collector-user", help="the collector's user name (default: the "
                                            "config's [mqtt] username, else "
                                            f"{DEFAULT_COLLECTOR_USER})")
    p.add_argument("--partitions", type=int, metavar="N",
                   help="map the fleet's topics to N partitions (1-1024), part/<n>/...: "
                        "every collector of the cluster must then consume partitions "
                        "(default: no mapping)")
    p.add_argument("--ack-wait", type=int, metavar="SECONDS",
                   help="how long a QoS 1 message sent and not acknowledged waits before "
                        "it is sent again, also to a collector taking over a dead one's "
                        "partition (1-3600; default: NATS's 30)")
    p.set_defaults(func=run)
