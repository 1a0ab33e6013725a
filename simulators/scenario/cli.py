"""``parkwatch sim scenario``: a scenario file run on a virtual clock into a new database."""

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
