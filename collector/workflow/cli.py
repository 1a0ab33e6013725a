"""``parkwatch report monthly``: the month's scores from the collector's database."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from collector.db.connection import BadTarget, existing
from collector.workflow import report
from collector.workflow.config import WorkflowConfig
from collector.workflow.store import WorkflowStore


def report_monthly(args) -> int:
    cfg, database = WorkflowConfig(), args.database
    if args.config:
        from collector.config import load

        collector_cfg = load(args.config)  # the one place the collector's file is checked
        cfg, database = collector_cfg.workflow, database or str(collector_cfg.database)
    if not database:
        return _fail("give --config FILE (the collector's) or --database PATH")
    try:
        database = existing(database)
    except BadTarget as e:
        return _fail(str(e))
    if not args.config:
        cfg = stored_workflow(database) or cfg
    store = WorkflowStore(database, cfg)
    try:
        rep = report.monthly_report(store, args.month, time.time())
    except ValueError as e:
        return _fail(str(e))
    finally:
        store.close()
    out = report.to_json(rep) + "\n" if args.json else \
        report.to_csv(rep) if args.csv else report.to_text(rep)
    sys.stdout.write(out)
    return 0


def stored_workflow(database: str) -> WorkflowConfig | None:
    """The ``[workflow]`` table a scenario run left in its database, if any: a scenario's
    scores are reported by the rules it was played with."""
    from collector.store_scenario import stored_setting
    from collector.workflow.config import from_section
    from parkwatch.core.conf import Section

    settings = stored_setting(database, "workflow")
    if settings is None:
        return None
    return from_section(Section(settings, Path(str(database)), "workflow"))


def _fail(message: str) -> int:
    print(f"parkwatch: {message}", file=sys.stderr)
    return 2
