"""``parkwatch user add|list|token|disable|enable|passwd``: the console's users, from a shell.

Every action works on an existing collector database (``--db``); a missing file is an
error naming it, never a new empty database (``user add --create`` makes one on purpose).
Every change is written to the audit log as ``cli:<login name>``.
"""

from __future__ import annotations

import getpass
import os
import sqlite3
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from collector.web.auth import ROLES, TOKEN_DAYS_DEFAULT, TOKEN_DAYS_MAX, AuthError, Users
from collector.web.store_users import is_foreign_database


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


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "cli"


def _open(args) -> Users:
    from collector.db.connection import BadTarget, target
    from collector.store import Store

    try:
        where = target(args.database)
    except BadTarget as e:
        raise AuthError(str(e)) from None
    if not isinstance(where, Path):  # PostgreSQL: the server says whether it exists
        try:
            return Users(Store(where).db)
        except sqlite3.DatabaseError as e:
            raise AuthError(f"database {args.database}: {e}") from None
    path = where
    if not path.is_file() and not getattr(args, "create", False):
        what = "is not a file" if path.exists() else "does not exist"
        raise AuthError(f"database {path} {what} (give the collector's database; "
                        f"`user add --create` starts a new one)")
    try:
        if path.is_file():
            _must_be_collectors(path)
        return Users(Store(path).db)
    except sqlite3.DatabaseError as e:
        raise AuthError(f"database {path}: {e}") from None


def _must_be_collectors(path: Path) -> None:
    """Refuse another program's SQLite file (an agent's outbox, say) before migrating it."""
    if is_foreign_database(path):
        raise AuthError(f"database {path} is not a collector database (it has no users table)")


def _day(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _token_line(t: dict, now: float) -> str:
    if t["revoked_at"] is not None:
        state = f"revoked {_day(t['revoked_at'])}"
    elif t["expires_at"] <= now:
        state = f"expired {_day(t['expires_at'])}"
    else:
        state = f"expires {_day(t['expires_at'])}"
    return f"    token {t['id']:<4} {t['prefix'] or '(old token)':<14} {t['name']:<16} {state}"


def run(args) -> int:
    now, by = time.time(), _operator()
    try:
        users = _open(args)
        if args.action == "add":
            user = users.add(args.username, _password(args), args.role, args.group,
                             args.display_name, by=by, now=now)
            print(f"added {user.username} ({user.role}{', ' + user.group if user.group else ''})")
        elif args.action == "list":
            for u in users.overview():
                state = "disabled" if u["disabled"] else "active"
                print(f"{u['username']:<20} {u['role']:<8} {u['group'] or '-':<20} {state}")
                for t in u["tokens"]:
                    if args.all or (t["revoked_at"] is None and t["expires_at"] > now):
                        print(_token_line(t, now))
        elif args.action == "token" and args.revoke:
            t = users.revoke_api_token(args.username, args.revoke, now, by)
            print(f"revoked token {t['id']} ({t['name']}) of {args.username}")
        elif args.action == "token":
            token = users.new_api_token(args.username, args.name, now, args.expires, by=by)
            print(token)
            print(f"expires {_day(now + args.expires * 86400)}", file=sys.stderr)
        elif args.action in ("disable", "enable"):
            users.set_disabled(args.username, args.action == "disable", now, by)
            print(f"{args.action}d {args.username}")
        elif args.action == "passwd":
            users.set_password(args.username, _password(args), now, by)
            print(f"new password for {args.username}; their sessions are ended")
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
    add.add_argument("--create", action="store_true",
                     help="create the database if it does not exist (a first admin)")
    lst = user.add_parser("list", help="users with role, group, state and live tokens")
    lst.add_argument("--all", action="store_true", help="also expired and revoked tokens")
    tok = user.add_parser("token", help="issue a bearer token for scripts, or revoke one")
    tok.add_argument("username")
    tok.add_argument("--name", default="cli", help="what the token is for")
    tok.add_argument("--expires", type=int, default=TOKEN_DAYS_DEFAULT, metavar="DAYS",
                     help=f"days until it expires (default {TOKEN_DAYS_DEFAULT}, "
                          f"at most {TOKEN_DAYS_MAX})")
    tok.add_argument("--revoke", metavar="ID",
                     help="revoke this token instead: its id or prefix from `user list`")
    dis = user.add_parser("disable", help="disable a user: sessions and tokens stop at once")
    dis.add_argument("username")
    ena = user.add_parser("enable", help="enable a disabled user again")
    ena.add_argument("username")
    pwd = user.add_parser("passwd", help="set a user's password (ends their sessions)")
    pwd.add_argument("username")
    pwd.add_argument("--password-file", help="read the password from this file")
    for p in (add, lst, tok, dis, ena, pwd):
        p.add_argument("--database", "--db", dest="database", required=True,
                       help="the collector's SQLite file (it must exist)")
        p.set_defaults(func=run)
