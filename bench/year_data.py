"""A year of a large fleet's rows, written straight into a collector database (either
backend): outages, incidents, site events, delivery marks, sight, workflow tickets and their
events, as the collector and the workflow leave them. Seeded, so both backends get the same
rows. Used by bench/pg_backend.py to time the hot queries at scale.

Per site: ``per_site`` outages spread over 2026 (60 % site network, the rest device and
software), each longer than a minute an incident with a ticket (closed, or live for the
last weeks), two workflow events per ticket, one site event and one delivery mark per
outage. About 1 % of sites end the year with an outage still open.
"""

from __future__ import annotations

import random
import time

from collector.db.migrations import migrate

YEAR0 = 1767196800.0  # 2026-01-01T00:00:00+08:00
YEAR_S = 365 * 86400.0
PER_PROJECT = 100
BATCH = 20_000
KINDS = ["site_network"] * 6 + ["device_offline", "device_fault", "software_down", "site_network"]

OUTAGE = ("INSERT INTO outages (id, kind, project, site, device, fault, started_at, "
          "detected_at, ended_at, incident_id, last_seen_at, declared_at, detected_by, "
          "start_source, end_source) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
INCIDENT = ("INSERT INTO incidents (id, outage_id, project, site, device, kind, opened_at, "
            "declared_at, closed_at, duration_s, state, grade) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)")
EVENT = ("INSERT INTO site_events (project, site, kind, device, at, detail) "
         "VALUES (?,?,?,?,?,?)")
SEEN = "INSERT INTO seen_events VALUES (?,?,?,?,?)"
TICKET = ("INSERT INTO wf_tickets (id, incident_id, source, project, site, device, kind, "
          "severity, signature, opened_at, assessed, state, group_name, resolved_at, "
          "closed_at, fault_report_at, outage_ended_at, created_at) "
          "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
WF_EVENT = ("INSERT INTO wf_events (key, kind, ticket_id, at, audience, detail, recorded_at) "
            "VALUES (?,?,?,?,?,?,?)")


def _grade(d: float) -> str:
    return "I" if d > 1800 else "II" if d > 900 else "III" if d > 300 else "IV"


def rows_of_site(rnd: random.Random, p: int, s: int, per_site: int, ids: list[int]):
    """The rows of one site: (outages, incidents, events, seen, tickets, wf_events)."""
    project, site = f"P{p:04d}", f"S{s:03d}"
    out = ([], [], [], [], [], [])
    slot = YEAR_S / per_site
    for k in range(per_site):
        oid = ids[0] = ids[0] + 1
        kind = rnd.choice(KINDS)
        device = None if kind == "site_network" else f"barrier-{rnd.randrange(4)}"
        start = YEAR0 + k * slot + rnd.random() * (slot - 7200)
        dur = rnd.choice([20, 45, 90, 300, 600, 1200, 2700, 5400]) + rnd.random() * 30
        end = None if (k == per_site - 1 and rnd.random() < 0.01) else start + dur
        incident = dur > 60
        iid = None
        if incident:
            iid = ids[1] = ids[1] + 1
        out[0].append((oid, kind, project, site, device,
                       "motor_overheat" if kind == "device_fault" else None, start,
                       start + 30, end, iid, start, start + 60 if incident else None,
                       "silence", "last_message", None if end is None else "message"))
        out[2].append((project, site, kind, device, start, "{}"))
        out[3].append((project, site, 1 + k // 5, k, start + 1))
        if not incident:
            continue
        state = "open" if end is None else "closed"
        out[1].append((iid, oid, project, site, device, kind, start, start + 60, end,
                       None if end is None else dur, state, _grade(dur)))
        live = end is None or start > YEAR0 + YEAR_S - 21 * 86400
        t_state = ("dispatched" if end is None else "resolved") if live else "closed"
        resolved = None if end is None else end + 600
        sig = f"{kind}:motor_overheat" if kind == "device_fault" else None
        out[4].append((iid, iid, "auto", project, site, device, kind, 2, sig, start, 1,
                       t_state, "remote-ops", resolved, None if live else end + 3600,
                       None if live else end + 3600, end, start + 61))
        for n, what in enumerate(("opened", "dispatched")):
            out[5].append((f"t{iid}:{what}", what, iid, start + 61 + n, '["seat"]', "{}",
                           start + 61 + n))
    return out


def fill(db, sites: int, per_site: int, seed: int = 15, log=print) -> dict:
    """Migrate ``db`` and write the year into it; counts and the seconds it took."""
    migrate(db)
    rnd = random.Random(seed)
    started = time.perf_counter()
    statements = (OUTAGE, INCIDENT, EVENT, SEEN, TICKET, WF_EVENT)
    names = ("outages", "incidents", "site_events", "seen_events", "wf_tickets", "wf_events")
    pending: list[list] = [[] for _ in statements]
    counts = dict.fromkeys(names, 0)
    ids = [0, 0]
    conn = db.conn

    def flush():
        with conn:
            for i, sql in enumerate(statements):
                if pending[i]:
                    conn.executemany(sql, pending[i])
                    counts[names[i]] += len(pending[i])
                    pending[i].clear()

    for n in range(sites):
        for i, rows in enumerate(rows_of_site(rnd, n // PER_PROJECT, n % PER_PROJECT,
                                              per_site, ids)):
            pending[i] += rows
        if len(pending[0]) >= BATCH:
            flush()
            if n % 10_000 < BATCH // per_site:
                log(f"  {n + 1:,} sites written, {time.perf_counter() - started:.0f} s")
    flush()
    with conn:  # a year of one collector: a run, link flaps now and then
        conn.execute("INSERT INTO collector_runs (id, started_at, alive_at, pid, host) "
                     "VALUES (1, ?, ?, 1, 'bench')", (YEAR0, YEAR0 + YEAR_S))
        spans = [(1, YEAR0 + i * 3600.0, YEAR0 + i * 3600.0 + 3590, 0) for i in range(8760)]
        spans[-1] = (*spans[-1][:3], 1)
        conn.executemany("INSERT INTO sight (run_id, from_at, to_at, open) VALUES (?,?,?,?)",
                         spans)
    counts["sight"] = len(spans)
    return {"rows": counts, "fill_s": round(time.perf_counter() - started, 1)}
