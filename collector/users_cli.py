"""``parkwatch user add|list|token``: the console's local user table, from a shell."""

from __future__ import annotations

import getpass
import os
import sys
import time
from pathlib import Path

from collector.auth import ROLES, AuthError, Users


def _password(args) -> str:
    if args.password_file:
        try:
            return Path(args.password_file).read_text().strip()
        except OSError as e:
            raise AuthError(f"cannot read password file {args.password_file}: {e}") from None
    if os.environ.get("PARKWATCH_PASSWORD"):
        return os.environ["PARKWATCH_PASSWORD"]
    if not sys.stdin.isatty():
        raise AuthError("no password: use --password-file or PARKWATCH_PASSWORD")
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise AuthError("the two passwords differ")
    return first


def run(args) -> int:
    from collector.store import Store

    try:
        users = Users(Store(args.database).db)
        if args.action == "add":
            user = users.add(args.username, _password(args), args.role, args.group,
                             args.display_name)
            print(f"added {user.username} ({user.role}{', ' + user.group if user.group else ''})")
        elif args.action == "list":
            for u in users.list():
                print(f"{u['username']:<20} {u['role']:<8} {u['group'] or ''}")
        elif args.action == "token":
            print(users.new_api_token(args.username, args.name, time.time()))
    except AuthError as e:
        print(f"parkwatch user: {e}", file=sys.stderr)
        return 2
    return 0


def add_parser(sub) -> None:
    user = sub.add_parser("user", help="console users and API tokens").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    add = user.add_parser("add", help="add a user")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--group", help="the group a member acts for (e.g. remote-ops)")
    add.add_argument("--display-name")
    add.add_argument("--password-file", help="read the password from this file")
    lst = user.add_parser("list", help="list users")
    tok = user.add_parser("token", help="issue a bearer token for scripts")
    tok.add_argument("username")
    tok.add_argument("--name", default="cli", help="what the token is for")
    for p in (add, lst, tok):
        p.add_argument("--database", "--db", dest="database", required=True,
                       help="the collector's SQLite file")
        p.set_defaults(func=run)
