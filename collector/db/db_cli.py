"""``parkwatch db migrate``: make or bring up to date a collector database's tables.

A collector makes its tables when it starts; this does it beforehand, for a PostgreSQL
database several collectors will share (docs/scale.md) or a file the site and user
commands will read (they refuse a database with no collector tables)."""

from __future__ import annotations

import sqlite3

from parkwatch.core.conf import UserError


def db_migrate(args) -> int:
    from collector.db.connection import BadTarget, open_db, target
    from collector.db.migrations import all_migrations, applied, migrate

    try:
        where = target(args.database)
        db = open_db(where)
    except (BadTarget, sqlite3.Error) as e:
        raise UserError(f"{args.database}: {e}") from None
    try:
        before = applied(db)
        migrate(db)
        after = applied(db)
    except sqlite3.Error as e:
        raise UserError(f"{args.database}: {e}") from None
    finally:
        db.close()
    new = [name for name, _ in all_migrations() if name in after - before]
    print(f"{where}: {len(new)} migrations applied, {len(after)} in all"
          + "".join(f"\n  {name}" for name in new))
    return 0


def add_parser(sub) -> None:
    d = sub.add_parser("db", help="the collector's database").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    m = d.add_parser("migrate", help="make the collector's tables, or bring them up to date")
    m.add_argument("--database", "--db", dest="database", required=True,
                   metavar="PATH|URL", help="a SQLite file (made if missing) or a "
                                            "postgresql:// URL")
    m.set_defaults(func=db_migrate)
