"""The collector's offline commands: ``sim scenario`` and ``report budget``."""

from __future__ import annotations

import json
from pathlib import Path

from parkwatch.core.conf import UserError


def sim_scenario(args) -> int:
    from simulators.scenario import runner, spec

    scenario = spec.load(args.file)
    db = Path(args.db)
    if db.exists():
        if not args.replace:
            raise UserError(f"{db} exists; give a new path or --replace to overwrite it")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    db.parent.mkdir(parents=True, exist_ok=True)
    summary = runner.run(scenario, db)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"{summary['sites']} sites, {summary['events']} events over "
              f"{summary['virtual_days']} days in {summary['wall_s']} s: "
              f"{summary['outages']} outages, {summary['incidents']} incidents -> {db}")
    return 0


def report_budget(args) -> int:
    from collector.downtime import report
    from collector.store import Store

    if not Path(args.db).exists():
        raise UserError(f"{args.db}: no such database")
    db = Store(args.db).db
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
