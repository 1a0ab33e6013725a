"""Budget figures read from the collector's database: the shell around
``collector.downtime.budget``.

Used by ``GET /api/projects/{project}/budget`` and ``parkwatch report budget``.
"""

from __future__ import annotations

import sqlite_utils

from collector.downtime.budget import DEFAULT_TIMEZONE, BudgetRules, NetOutage, compute, year_bounds

MARGIN_S = 7 * 86400  # sight before New Year still tells how long a crossing outage was seen


class ReportError(Exception):
    pass


def projects(db: sqlite_utils.Database) -> list[dict]:
    return list(db.query("SELECT * FROM projects ORDER BY project"))


def rules_for(db: sqlite_utils.Database, project: str) -> BudgetRules:
    rows = list(db.query("SELECT * FROM projects WHERE project = ?", [project]))
    if not rows:
        raise ReportError(f"no project {project!r} in this database")
    r = rows[0]
    return BudgetRules(timezone=r["timezone"] or DEFAULT_TIMEZONE,
                       budget_minutes=r["budget_minutes"], threshold_s=r["threshold_s"])


def as_of(db: sqlite_utils.Database) -> float | None:
    """The last moment the collector vouched for: a report's "now" when read offline."""
    row = list(db.query("SELECT max(alive_at) AS t FROM collector_runs"))
    return row[0]["t"] if row else None


def budget(db: sqlite_utils.Database, project: str, year: int, now: float | None = None,
           live_run: int | None = None) -> dict:
    """The figures of ``project`` for ``year``. ``now`` defaults to the database's last
    vouched moment; ``live_run`` is the running collector's run, whose sight extends to now."""
    rules = rules_for(db, project)
    if now is None:
        now = as_of(db)
        if now is None:
            raise ReportError("the database holds no collector run yet")
    y0, y1 = year_bounds(year, rules.timezone)
    outages = [NetOutage(r["id"], r["site"], r["started_at"], r["ended_at"],
                         customer=bool(r["customer"]), platform=r["platform_id"] is not None)
               for r in db.query(
                   "SELECT o.id, o.site, o.started_at, o.ended_at, o.platform_id, "
                   "EXISTS (SELECT 1 FROM exclusions e WHERE e.outage_id = o.id AND "
                   "e.cause = 'customer' AND e.revoked_at IS NULL) AS customer "
                   "FROM outages o WHERE o.project = ? AND o.kind = 'site_network' AND "
                   # merged into another outage of the same period: that one counts
                   "(o.absorbed_by IS NULL OR o.platform_id IS NOT NULL) AND "
                   "o.started_at < ? AND (o.ended_at IS NULL OR o.ended_at > ?)",
                   [project, y1, y0])]
    maintenance = [(r["from_at"], r["to_at"]) for r in db.query(
        "SELECT from_at, to_at FROM maintenance WHERE project = ? AND revoked_at IS NULL "
        "AND from_at < ? AND to_at > ?", [project, y1, y0])]
    sight = [(r["from_at"], now if r["run_id"] == live_run and r["open"] else r["to_at"])
             for r in db.query("SELECT run_id, from_at, to_at, open FROM sight "
                               "WHERE from_at < ? AND to_at >= ?", [y1, y0 - MARGIN_S])]
    return compute(project, year, outages, maintenance, sight, now, rules)


FIELDS = [("down_minutes", "down"), ("remaining_minutes", "remaining"),
          ("excluded_minutes", "excluded"), ("alerts_over_threshold", "alerts>thr"),
          ("longest_restore_minutes", "longest"), ("restores_over_target", "restores>20"),
          ("availability_window_pct", "avail 08-22 %"), ("availability_24x7_pct", "avail 24x7 %")]


def table(rows: list[dict]) -> str:
    """The figures as a fixed-width table, one project a line."""
    heads = ["project", "year", "budget"] + [h for _, h in FIELDS] + ["year-end", "runs out"]
    lines = [heads]
    for r in rows:
        lines.append([r["project"], str(r["year"]), _fmt(r["budget_minutes"])] +
                     [_fmt(r[k], 4 if k.endswith("_pct") else 2) for k, _ in FIELDS] +
                     [_fmt(r["forecast"]["projected_year_end_minutes"]),
                      r["forecast"]["runs_out_on"] or "-"])
    widths = [max(len(line[i]) for line in lines) for i in range(len(heads))]
    return "\n".join("  ".join(c.rjust(w) if i else c.ljust(w)
                               for i, (c, w) in enumerate(zip(line, widths, strict=True)))
                     for line in lines)


def _fmt(v, places: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:g}" if v == int(v) else f"{v:.{places}f}"
    return str(v)
