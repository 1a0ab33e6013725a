"""``parkwatch report budget``: the budget figures of a collector database."""

from __future__ import annotations

import json
import sqlite3

from parkwatch.core.conf import UserError


def report_budget(args) -> int:
    from collector.db.connection import BadTarget, existing
    from collector.downtime import report
    from collector.store import Store

    try:
        db = Store(existing(args.db)).db
    except (BadTarget, sqlite3.Error) as e:
        raise UserError(f"{args.db}: {e}") from None
    names = [args.project] if args.project else [p["project"] for p in report.projects(db)]
    try:
        rows = [report.budget(db, name, args.year) for name in names]
    except report.ReportError as e:
        raise UserError(f"{args.db}: {e}") from None
    if args.json:
        print(json.dumps(rows if not args.project else rows[0], indent=2))
    elif rows:
        print(report.table(rows))
    else:
        print(f"{args.db}: no projects yet")
    return 0
