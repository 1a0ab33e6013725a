"""Budget figures read from the collector's database: the shell around
``collector.downtime.budget``.

Used by ``GET /api/projects/{project}/budget`` and ``parkwatch report budget``.
"""

from __future__ import annotations

from collections.abc import Collection

from collector.downtime import intervals as iv
from collector.downtime.budget import DEFAULT_TIMEZONE, BudgetRules, NetOutage, compute, year_bounds
from collector.downtime.store import Db, downtime_store

MARGIN_S = 7 * 86400  # sight before New Year still tells how long a crossing outage was seen

class ReportError(Exception):
    pass


def projects(db: Db) -> list[dict]:
    return downtime_store(db).projects()


def rules_for(db: Db, project: str) -> BudgetRules:
    r = downtime_store(db).project(project)
    if r is None:
        raise ReportError(f"no project {project!r} in this database")
    return BudgetRules(timezone=r["timezone"] or DEFAULT_TIMEZONE,
                       budget_minutes=r["budget_minutes"], threshold_s=r["threshold_s"])


def as_of(db: Db) -> float | None:
    """The last moment the collector vouched for: a report's "now" when read offline."""
    return downtime_store(db).last_alive()


def budget(db: Db, project: str, year: int, now: float | None = None,
           live_run: int | Collection[int] | None = None) -> dict:
    """The figures of ``project`` for ``year``. ``now`` defaults to the database's last
    vouched moment; ``live_run`` is the running collector's run (or runs, partitioned),
    whose sight extends to now."""
    store = downtime_store(db)
    rules = rules_for(store, project)
    if now is None:
        now = as_of(store)
        if now is None:
            raise ReportError("the database holds no collector run yet")
    y0, y1 = year_bounds(year, rules.timezone)
    outages = [NetOutage(r["id"], r["site"], r["started_at"], r["ended_at"],
                         customer=bool(r["customer"]), platform=r["platform_id"] is not None)
               for r in store.budget_outages(project, y0, y1)]
    maintenance = store.active_maintenance(project, y0, y1)
    live = {live_run} if isinstance(live_run, int) else set(live_run or ())
    sight = known_time(store.sight(y0 - MARGIN_S, y1), now, live)
    return compute(project, year, outages, maintenance, sight, now, rules)


def known_time(rows: list[dict], now: float, live: set[int]) -> list[tuple[float, float]]:
    """The time the collectors saw every site: a run for the whole fleet sees all of it;
    partitioned collectors (collector/partitioned.py) each see their partitions, so time
    is known only where every partition seen at all was watched. The rest (a takeover's
    gap, a partition nobody held) is unknown time, charged to nobody."""
    spans: dict[int | None, list[tuple[float, float]]] = {}
    for r in rows:
        end = now if r["run_id"] in live and r["open"] else r["to_at"]
        spans.setdefault(r.get("partition"), []).append((r["from_at"], end))
    whole = spans.pop(None, [])
    if not spans:
        return whole
    known: list[tuple[float, float]] | None = None
    for part in spans.values():
        seen = iv.union(part + whole)
        known = seen if known is None else iv.intersect(known, seen)
    return known


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
