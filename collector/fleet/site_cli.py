"""``parkwatch site add|remove|list|passwd``: the fleet registry from a shell.

Each takes the collector's config (``--config``: its database and ``[projects.<P>] sites``)
or the database alone (``--db``, which must exist). A new or rotated site password is
printed once, as the ``[mqtt]`` table of the site agent's config; only its hash is kept.
"""

from __future__ import annotations

import getpass
import sqlite3
import sys
import time

from parkwatch.core.conf import UserError

RELOAD_NOTE = ("write the broker's files again (parkwatch broker config --out DIR ...) and "
               "reload mosquitto (kill -HUP its pid, or systemctl reload mosquitto)")


def open_registry(args):
    """(Registry, CollectorConfig or None) for ``--config`` or ``--db``."""
    from collector.db.connection import BadTarget, existing
    from collector.fleet.registry import Registry, config_sites
    from collector.store import Store

    if getattr(args, "config", None):
        from collector.config import load

        cfg = load(args.config)
        return Registry(Store(cfg.database).db, config_sites(cfg)), cfg
    try:
        where = existing(args.database, "give the collector's database, or --config with "
                                        "the collector's config")
        return Registry(Store(where).db), None
    except (BadTarget, sqlite3.Error) as e:
        raise UserError(str(e)) from None


def actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _account(project: str, site: str, password: str) -> None:
    print(f"# the site agent's account: put this in its config (shown once, not stored)\n"
          f'[mqtt]\nusername = "{project}/{site}"\npassword = "{password}"')
    print(f"parkwatch site: now {RELOAD_NOTE}", file=sys.stderr)


def run(args) -> int:
    from collector.fleet.registry import RegistryError

    try:
        registry, _ = open_registry(args)
        if args.action == "add":
            devices = None
            if args.devices is not None:
                devices = [d.strip() for d in args.devices.split(",") if d.strip()]
            password = registry.add(args.project, args.site, devices, actor(), time.time())
            print(f"added site {args.project}/{args.site}", file=sys.stderr)
            _account(args.project, args.site, password)
        elif args.action == "remove":
            configured = registry.remove(args.project, args.site, actor(), time.time())
            print(f"removed site {args.project}/{args.site} and its broker account")
            if configured:
                print(f"parkwatch site: {args.project}/{args.site} is still listed in the "
                      f"collector config ([projects.{args.project}] sites); the collector "
                      "keeps hearing it until it is removed there", file=sys.stderr)
            print(f"parkwatch site: now {RELOAD_NOTE}", file=sys.stderr)
        elif args.action == "passwd":
            password = registry.passwd(args.project, args.site, actor(), time.time())
            print(f"new password for site {args.project}/{args.site}", file=sys.stderr)
            _account(args.project, args.site, password)
        else:
            rows = registry.list()
            print(f"{'project':<16} {'site':<16} {'source':<16} {'account':<8} devices")
            for r in rows:
                devices = "any" if r["devices"] is None else ",".join(r["devices"])
                print(f"{r['project']:<16} {r['site']:<16} {r['source']:<16} "
                      f"{'yes' if r['account'] else 'no':<8} {devices}")
    except RegistryError as e:
        print(f"parkwatch site: {e.message}", file=sys.stderr)
        return 2
    return 0


def add_source_args(p) -> None:
    """``--config FILE | --db PATH``, one of them required."""
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--config", help="the collector's TOML config (its database and "
                                      "[projects.<P>] sites)")
    src.add_argument("--database", "--db", dest="database",
                     help="the collector's SQLite file (must exist)")


def add_parser(sub) -> None:
    site = sub.add_parser("site", help="the fleet registry: sites and their broker "
                                       "accounts").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    add = site.add_parser("add", help="register a site and print its broker password once")
    rm = site.add_parser("remove", help="take a site and its broker account out")
    pw = site.add_parser("passwd", help="give a site a new broker password (printed once)")
    lst = site.add_parser("list", help="list the known sites")
    for p in (add, rm, pw):
        p.add_argument("project")
        p.add_argument("site")
    add.add_argument("--devices", metavar="A,B",
                     help="the site's devices; reports of any other device are refused "
                          "(default: any device)")
    for p in (add, rm, pw, lst):
        add_source_args(p)
        p.set_defaults(func=run)
