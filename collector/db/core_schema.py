"""The collector core's own tables: outages, incidents, the collector's runs and sight, site
events, delivery marks and site clocks (named migrations, oldest first)."""

from __future__ import annotations

from collector.db.migrations import register

MIGRATIONS: list[tuple[str, str]] = [
    ("001_outages_incidents", """
        CREATE TABLE outages (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL, project TEXT NOT NULL, site TEXT NOT NULL, device TEXT,
            fault TEXT, started_at REAL NOT NULL, detected_at REAL NOT NULL, ended_at REAL,
            incident_id INTEGER
        );
        CREATE INDEX outages_open ON outages(ended_at) WHERE ended_at IS NULL;
        CREATE TABLE incidents (
            id INTEGER PRIMARY KEY,
            outage_id INTEGER NOT NULL UNIQUE REFERENCES outages(id),
            project TEXT NOT NULL, site TEXT NOT NULL, device TEXT, kind TEXT NOT NULL,
            opened_at REAL NOT NULL, declared_at REAL NOT NULL, closed_at REAL,
            duration_s REAL, state TEXT NOT NULL
        );
    """),
    ("002_seen_events", """
        CREATE TABLE seen_events (
            project TEXT NOT NULL, site TEXT NOT NULL, boot INTEGER NOT NULL,
            seq INTEGER NOT NULL, received_at REAL NOT NULL,
            PRIMARY KEY (project, site, boot, seq)
        ) WITHOUT ROWID;
    """),
    ("003_evidence_runs_budget", """
        ALTER TABLE outages ADD COLUMN last_seen_at REAL;
        ALTER TABLE outages ADD COLUMN declared_at REAL;
        ALTER TABLE outages ADD COLUMN detected_by TEXT;
        ALTER TABLE outages ADD COLUMN start_source TEXT;
        ALTER TABLE outages ADD COLUMN end_source TEXT;
        ALTER TABLE outages ADD COLUMN absorbed_by INTEGER REFERENCES outages(id);
        ALTER TABLE outages ADD COLUMN platform_id INTEGER REFERENCES outages(id);
        CREATE INDEX outages_by_project ON outages(project, kind, started_at);
        ALTER TABLE incidents ADD COLUMN grade TEXT;
        ALTER TABLE incidents ADD COLUMN withdrawn_at REAL;
        CREATE TABLE collector_runs (
            id INTEGER PRIMARY KEY, started_at REAL NOT NULL, alive_at REAL NOT NULL,
            stopped_at REAL, pid INTEGER, host TEXT
        );
        -- periods the collector was running AND connected to the broker; the rest is unknown
        CREATE TABLE sight (
            id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES collector_runs(id),
            from_at REAL NOT NULL, to_at REAL NOT NULL, open INTEGER NOT NULL DEFAULT 1
        );
        CREATE TABLE projects (
            project TEXT PRIMARY KEY, timezone TEXT NOT NULL, budget_minutes REAL NOT NULL,
            threshold_s REAL NOT NULL
        );
        CREATE TABLE site_events (
            id INTEGER PRIMARY KEY, project TEXT NOT NULL, site TEXT NOT NULL,
            kind TEXT NOT NULL, device TEXT, at REAL NOT NULL, detail TEXT NOT NULL
        );
        CREATE TABLE exclusions (
            id INTEGER PRIMARY KEY, outage_id INTEGER NOT NULL REFERENCES outages(id),
            cause TEXT NOT NULL, reason TEXT NOT NULL, created_by TEXT NOT NULL,
            created_at REAL NOT NULL, revoked_at REAL, revoked_by TEXT, revoke_reason TEXT
        );
        CREATE UNIQUE INDEX exclusions_active ON exclusions(outage_id)
            WHERE revoked_at IS NULL;
        CREATE TABLE maintenance (
            id INTEGER PRIMARY KEY, project TEXT NOT NULL, from_at REAL NOT NULL,
            to_at REAL NOT NULL, reason TEXT NOT NULL, created_by TEXT NOT NULL,
            created_at REAL NOT NULL, revoked_at REAL, revoked_by TEXT, revoke_reason TEXT
        );
        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY, at REAL NOT NULL, actor TEXT NOT NULL,
            action TEXT NOT NULL, target TEXT NOT NULL, reason TEXT NOT NULL,
            detail TEXT NOT NULL
        );
    """),
]
MIGRATIONS.append(("004_site_clocks_end_boot", """
    -- the agent boot of the message that ended a site outage: its uplink record's key
    ALTER TABLE outages ADD COLUMN end_boot INTEGER;
    -- each gateway's clock offset (collector minus gateway), so a restart keeps it
    CREATE TABLE site_clocks (
        project TEXT NOT NULL, site TEXT NOT NULL, offset_s REAL NOT NULL,
        PRIMARY KEY (project, site)
    ) WITHOUT ROWID;
"""))
MIGRATIONS.append(("005_outages_released_at", """
    -- a device or software outage absorbed by its site outage, still down when the site
    -- came back: its own time (what may make it an incident) counts from here
    ALTER TABLE outages ADD COLUMN released_at REAL;
"""))

MIGRATIONS.append(("006_runs_partition", """
    -- a partitioned collector's run acts for one partition (collector/partitioned.py), under
    -- the lease epoch it claimed; NULL: the whole fleet (one collector)
    ALTER TABLE collector_runs ADD COLUMN partition INTEGER;
    ALTER TABLE collector_runs ADD COLUMN epoch INTEGER;
"""))
# What the hot reads of a year of a large fleet need (docs/performance.md, "A year of
# 100,000 sites"; bench/pg_backend.py times each without and with): one statement each, so
# the bench can drop and make them again.
HOT_INDEXES: list[tuple[str, str]] = [
    # a site's outages of a kind in a window (the scenario's results, a site's history)
    ("outages_site", "CREATE INDEX IF NOT EXISTS outages_site "
                     "ON outages(project, site, kind, started_at)"),
    # site outages closed since a moment (a starting collector resumes them)
    ("outages_site_ended", "CREATE INDEX IF NOT EXISTS outages_site_ended "
                           "ON outages(ended_at) WHERE kind = 'site_network'"),
    # the API's incidents of one state, in id order
    ("incidents_state", "CREATE INDEX IF NOT EXISTS incidents_state ON incidents(state, id)"),
    # the run's open sight period, written every second; sight since a moment
    ("sight_open", "CREATE INDEX IF NOT EXISTS sight_open ON sight(run_id) WHERE open = 1"),
    ("sight_to", "CREATE INDEX IF NOT EXISTS sight_to ON sight(to_at)"),
    # a partition's runs (a collector taking one over closes the ones before it)
    ("runs_partition", "CREATE INDEX IF NOT EXISTS runs_partition "
                       "ON collector_runs(partition) WHERE stopped_at IS NULL"),
]
MIGRATIONS.append(("007_hot_query_indexes",
                   "".join(f"{sql};\n" for _, sql in HOT_INDEXES)))

MIGRATIONS.append(("008_site_clocks_interval", """
    -- the heartbeat interval a site last announced: a collector starting (or taking a
    -- partition over) watches the fleet's known sites for silence from its start, before it
    -- has heard them (collector/tracking/tracker.py, link_restored); NULL: not known yet
    ALTER TABLE site_clocks ADD COLUMN interval_s REAL;
"""))

register(__name__, MIGRATIONS)
