"""The monthly report: gather a month from the database, score it, print it as JSON, CSV
or a table. The scoring itself is ``scores.monthly`` (pure)."""

from __future__ import annotations

import csv
import io
import json

from collector.workflow import scores
from collector.workflow.business_time import month_bounds
from collector.workflow.store import WorkflowStore

DAY = 86400.0


def monthly_report(store: WorkflowStore, month: str, now: float) -> dict:
    """``ValueError`` for a month that is not YYYY-MM."""
    cfg = store.cfg
    start, end = month_bounds(month, cfg.timezone)
    bounds: dict[str, tuple[float, float]] = {}

    def in_month(project: str, t: float) -> bool:
        if project not in bounds:
            bounds[project] = month_bounds(month, cfg.tz(project))
        lo, hi = bounds[project]
        return lo <= t < hi

    # Time zones differ by at most a day, so a day either side holds the whole month.
    tickets = [t for t in store.opened_between(start - DAY, end + DAY)
               if in_month(t.project, t.opened_at)]
    durations = store.durations([t.id for t in tickets], now)
    problems = [scores.Problem(p["id"], p["signature"], p["confirmed_at"], p["solved_at"])
                for p in store.problems()
                if p["confirmed_at"] is not None and start <= p["confirmed_at"] < end]
    return scores.monthly(month, tickets, cfg.groups, cfg.clock, now, durations=durations,
                          tiers=cfg.tiers, problems=problems, default_tz=cfg.timezone,
                          limits=(cfg.limits.transfers, cfg.limits.plan_changes))


CSV_COLUMNS = ("group", "score_kind", "incidents", "dispatched", "assessed",
               "responded_on_time", "responded_late", "handled_on_time", "handled_late",
               "response_rate", "handling_rate", "response_median_min", "response_p90_min",
               "handling_median_min", "handling_p90_min", "k1", "k2", "k3", "score",
               "grade_I", "grade_II", "grade_III", "grade_IV", "tier", "late_responses",
               "late_arrivals", "penalty_total")


def _flat(g: dict) -> dict:
    row = {k: g.get(k) for k in CSV_COLUMNS}
    for grade in scores.GRADES:
        row[f"grade_{grade}"] = g["grades"][grade]
    row["tier"] = (g.get("tier") or {}).get("name")
    return row


def to_json(report: dict) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False)


def to_csv(report: dict) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=("month",) + CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for g in report["groups"]:
        w.writerow({"month": report["month"], **_flat(g)})
    return buf.getvalue()


def to_text(report: dict) -> str:
    def cell(v):
        return "-" if v is None else f"{v:g}" if isinstance(v, float) else str(v)

    head = ("group", "disp.", "resp ok", "hand ok", "resp p50/p90", "hand p50/p90", "K1",
            "K2", "K3", "score / tier")
    rows = []
    for g in report["groups"]:
        extra = ""
        if g["score_kind"] == "tiers":
            extra = g["tier"]["name"] if g["tier"] else "no tier"
        elif g["score_kind"] == "penalties":
            extra = f"{g['late_responses']} late resp, {g['late_arrivals']} late arr, " \
                    f"-{g['penalty_total']:g}"
        rows.append((g["group"], cell(g["assessed"]), cell(g["responded_on_time"]),
                     cell(g["handled_on_time"]),
                     f"{cell(g['response_median_min'])}/{cell(g['response_p90_min'])}",
                     f"{cell(g['handling_median_min'])}/{cell(g['handling_p90_min'])}",
                     cell(g["k1"]), cell(g["k2"]), cell(g["k3"]),
                     extra or cell(g["score"])))
    widths = [max(len(str(r[i])) for r in (head, *rows)) for i in range(len(head))]
    lines = [f"Monthly scores {report['month']} ({report['timezone']}): "
             f"{report['incidents']} incidents, {report['not_assessed']} not assessed "
             "(opened outside business hours); times in business minutes", ""]
    for r in (head, *rows):
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))
    for g in report["groups"]:
        if g["score_kind"] == "tiers":
            counts = ", ".join(f"{k} {v}" for k, v in g["grades"].items())
            lines.append(f"\n{g['group']}: grades {counts}; matched "
                         f"{', '.join(g['tiers_matched']) or 'no tier'}")
    return "\n".join(lines) + "\n"
