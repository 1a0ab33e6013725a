"""``parkwatch broker config``: mosquitto's config, password file and ACL from the registry.

Writes into ``--out DIR``: ``mosquitto.conf`` (no anonymous clients, the password file and
ACL, a plain listener and/or a TLS one), ``passwd`` (every registered site's account and
the collector's), ``acl`` and ``collector.password`` (the collector's broker password,
made once and kept on later runs; point the collector's ``[mqtt] password_file`` at it).
Run it again after ``parkwatch site add/remove/passwd`` and reload mosquitto (SIGHUP).
"""

from __future__ import annotations

import os
import pwd
import sys
from pathlib import Path

from collector.fleet import brokerconf
from collector.fleet.site_cli import add_source_args, open_registry
from parkwatch.core.conf import UserError

DEFAULT_COLLECTOR_USER = "parkwatch-collector"


def _collector_password(path: Path) -> str:
    if path.is_file():
        password = path.read_text().strip()
        if password:
            return password
    password = brokerconf.new_password()
    brokerconf.write_private(path, password + "\n", owner=None)  # the collector's, not
    return password                                              # mosquitto's


def _data_dir(path: Path) -> None:
    """mosquitto keeps its sessions here; started as root it runs as its own user."""
    path.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("mosquitto")
        except KeyError:
            return
        os.chown(path, pw.pw_uid, pw.pw_gid)


def _tls(args, out: Path) -> tuple[str, str, str] | None:
    own = (args.cafile, args.certfile, args.keyfile)
    if args.make_certs and any(own):
        raise UserError("give either --make-certs or --cafile/--certfile/--keyfile")
    if any(own):
        if not all(own):
            raise UserError("a TLS listener needs all of --cafile, --certfile and --keyfile")
        for name in own:
            if not Path(name).is_file():
                raise UserError(f"no such file: {name}")
        return tuple(str(Path(p).resolve()) for p in own)
    if args.make_certs:
        from collector.fleet import certs

        ca, crt, key, made = certs.make(out, [h.strip() for h in args.make_certs.split(",")])
        print(f"parkwatch broker: {'made' if made else 'kept the existing'} CA and server "
              f"certificate in {out} (agents and the collector trust {ca})", file=sys.stderr)
        return str(ca), str(crt), str(key)
    return None


def conf_text(out: Path, port: int | None, host: str | None,
              tls: tuple[str, str, str] | None, tls_port: int) -> str:
    bind = f" {host}" if host else ""
    lines = ["# written by parkwatch broker config from the fleet registry; run it again",
             "# after parkwatch site add/remove/passwd, then reload mosquitto (SIGHUP)",
             "per_listener_settings false",
             "allow_anonymous false",
             f"password_file {out / 'passwd'}",
             f"acl_file {out / 'acl'}",
             "persistence true",  # the collector's session and queued events survive
             f"persistence_location {out / 'data'}/",
             # Bounded by count (default 1,000; even 100,000), a flood of QoS 0 heartbeats
             # made mosquitto 2.0 drop QoS 1 events to a collector that was behind; the
             # bound is the size, 512 MiB a client (a count of 0, "no limit", makes 2.0.11
             # cut publishing clients off).
             "max_queued_messages 10000000",
             "max_queued_bytes 536870912"]
    if port is not None:
        lines.append(f"listener {port}{bind}")
    if tls is not None:
        ca, crt, key = tls
        lines += [f"listener {tls_port}{bind}", f"cafile {ca}", f"certfile {crt}",
                  f"keyfile {key}", "tls_version tlsv1.2"]
    return "\n".join(lines) + "\n"


def run(args) -> int:
    for name in ("port", "tls_port"):
        if not 1 <= getattr(args, name) <= 65535:
            raise UserError(f"--{name.replace('_', '-')} must be 1-65535")
    registry, cfg = open_registry(args)
    user = args.collector_user or (cfg.mqtt.username if cfg and cfg.mqtt.username else
                                   DEFAULT_COLLECTOR_USER)
    if "/" in user:
        raise UserError(f"the collector's user name {user!r} may not hold '/' "
                        "(site accounts are <project>/<site>)")
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    tls = _tls(args, out)
    _data_dir(out / "data")
    if args.no_plain and tls is None:
        raise UserError("--no-plain leaves no listener: ask for a TLS one "
                        "(--make-certs or --cafile/--certfile/--keyfile)")
    collector_pw = _collector_password(out / "collector.password")
    accounts = [brokerconf.collector_account(user, brokerconf.hash_password(collector_pw)),
                *registry.accounts()]
    brokerconf.write_private(out / "passwd", brokerconf.password_file(accounts))
    brokerconf.write_private(out / "acl", brokerconf.acl_file(accounts))
    (out / "mosquitto.conf").write_text(conf_text(
        out, None if args.no_plain else args.port, args.host, tls, args.tls_port))
    missing = [f"{r['project']}/{r['site']}" for r in registry.list() if not r["account"]]
    print(f"wrote {out / 'mosquitto.conf'}, passwd and acl: {len(accounts) - 1} site "
          f"account(s) and the collector's ({user}, password in "
          f"{out / 'collector.password'})")
    if missing:
        print(f"parkwatch broker: {len(missing)} site(s) from the collector config have no "
              f"broker account yet ({', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}"
              "): parkwatch site passwd PROJECT SITE gives one", file=sys.stderr)
    print("reload mosquitto to apply: kill -HUP <pid> (or systemctl reload mosquitto)",
          file=sys.stderr)
    return 0


def add_parser(sub) -> None:
    broker = sub.add_parser("broker", help="the MQTT broker's accounts and ACL").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    c = broker.add_parser("config", help="write mosquitto's config, password file and ACL "
                                         "from the fleet registry")
    c.add_argument("--out", required=True, metavar="DIR", help="where the files go")
    add_source_args(c)
    c.add_argument("--port", type=int, default=1883, help="plain listener port (default 1883)")
    c.add_argument("--host", help="address the listeners bind (default: all)")
    c.add_argument("--no-plain", action="store_true", help="no plain-text listener")
    c.add_argument("--tls-port", type=int, default=8883,
                   help="TLS listener port, when TLS is asked for (default 8883)")
    c.add_argument("--make-certs", metavar="HOST[,HOST]",
                   help="make a CA and a server certificate for these names (kept on "
                        "later runs)")
    c.add_argument("--cafile", help="your own CA certificate (TLS listener)")
    c.add_argument("--certfile", help="your own server certificate")
    c.add_argument("--keyfile", help="your own server key")
    c.add_argument("--collector-user", help="the collector's broker user name (default: the "
                                            "config's [mqtt] username, else "
                                            f"{DEFAULT_COLLECTOR_USER})")
    c.set_defaults(func=run)
