"""``parkwatch sim scenario``: a scenario file run on a virtual clock into a new database."""

from __future__ import annotations

import json
from pathlib import Path

from collector.db.connection import BadTarget, target
from parkwatch.core.conf import UserError


def sim_scenario(args) -> int:
    from simulators.scenario import runner, spec

    scenario = spec.load(args.file)
    try:
        db = target(args.db)
    except BadTarget as e:
        raise UserError(str(e)) from None
    if not isinstance(db, Path):
        _empty_database(db, args.replace)
    elif db.exists():
        if not args.replace:
            raise UserError(f"{db} exists; give a new path or --replace to overwrite it")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    if isinstance(db, Path):
        db.parent.mkdir(parents=True, exist_ok=True)
    summary = runner.run(scenario, db)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"{summary['sites']} sites, {summary['events']} events over "
              f"{summary['virtual_days']} days in {summary['wall_s']} s: "
              f"{summary['outages']} outages, {summary['incidents']} incidents -> {db}")
    return 0


def _empty_database(url: str, replace: bool) -> None:
    """A scenario writes into a database with no tables, or (``--replace``) one emptied."""
    import sqlite3

    from collector.db.pg_admin import table_names, wipe

    try:
        names = table_names(url)
        if names and not replace:
            raise UserError(f"{url} holds {len(names)} tables; give an empty database or "
                            "--replace to drop them")
        if names:
            wipe(url)
    except sqlite3.Error as e:
        raise UserError(f"{url}: {e}") from None
