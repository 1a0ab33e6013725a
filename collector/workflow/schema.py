"""The workflow's own tables, as named migrations registered with collector/db/migrations.py.

They sit beside the core's ``incidents`` table and never change it: ``wf_tickets.incident_id``
points at a core incident (automatic incidents), or is NULL for incidents reported by hand.
"""

from collector.db.migrations import register

MIGRATIONS: list[tuple[str, str]] = [
    ("wf_001_workflow", """
        CREATE TABLE wf_tickets (
            id INTEGER PRIMARY KEY,
            incident_id INTEGER UNIQUE,
            source TEXT NOT NULL, channel TEXT,
            project TEXT NOT NULL, site TEXT, device TEXT, kind TEXT NOT NULL,
            device_class TEXT, severity INTEGER NOT NULL, signature TEXT,
            title TEXT, description TEXT,
            reporter_name TEXT, reporter_unit TEXT, reporter_contact TEXT, reporter_role TEXT,
            contract_scope TEXT, sla_level TEXT, impact TEXT, urgency TEXT,
            opened_at REAL NOT NULL, assessed INTEGER NOT NULL,
            state TEXT NOT NULL, group_name TEXT,
            transfers INTEGER NOT NULL DEFAULT 0, plan_changes INTEGER NOT NULL DEFAULT 0,
            plan TEXT, plan_date TEXT, resolved_group TEXT, resolved_at REAL,
            verified_at REAL, closed_at REAL, fault_report TEXT, fault_report_at REAL,
            last_progress_at REAL, outage_ended_at REAL,
            version INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL
        );
        CREATE INDEX wf_tickets_opened ON wf_tickets(opened_at);
        CREATE INDEX wf_tickets_live ON wf_tickets(state) WHERE state != 'closed';
        CREATE INDEX wf_tickets_outage_open ON wf_tickets(incident_id)
            WHERE outage_ended_at IS NULL AND incident_id IS NOT NULL;
        CREATE INDEX wf_tickets_signature ON wf_tickets(signature, opened_at)
            WHERE signature IS NOT NULL;
        CREATE TABLE wf_assignments (
            id INTEGER PRIMARY KEY,
            ticket_id INTEGER NOT NULL REFERENCES wf_tickets(id),
            seq INTEGER NOT NULL,
            group_name TEXT NOT NULL, dispatched_at REAL NOT NULL,
            respond_s REAL, handle_s REAL, milestone TEXT NOT NULL,
            acked_at REAL, arrived_at REAL, resolved_at REAL, ended_at REAL, end_reason TEXT,
            reopened INTEGER NOT NULL DEFAULT 0,
            UNIQUE (ticket_id, seq)
        );
        CREATE TABLE wf_audit (
            id INTEGER PRIMARY KEY,
            ticket_id INTEGER NOT NULL REFERENCES wf_tickets(id),
            at REAL NOT NULL, who TEXT NOT NULL, action TEXT NOT NULL, note TEXT,
            from_state TEXT, to_state TEXT, group_name TEXT, detail TEXT
        );
        CREATE INDEX wf_audit_ticket ON wf_audit(ticket_id);
        CREATE TABLE wf_attachments (
            id INTEGER PRIMARY KEY,
            ticket_id INTEGER NOT NULL REFERENCES wf_tickets(id),
            name TEXT NOT NULL, content_type TEXT, size INTEGER NOT NULL DEFAULT 0,
            data BLOB, url TEXT, added_at REAL NOT NULL
        );
        CREATE TABLE wf_events (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, ticket_id INTEGER,
            at REAL NOT NULL, audience TEXT NOT NULL, detail TEXT, recorded_at REAL NOT NULL
        );
        CREATE TABLE wf_outbox (
            id INTEGER PRIMARY KEY,
            event_id INTEGER NOT NULL REFERENCES wf_events(id),
            route_to TEXT NOT NULL, url TEXT NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL, claimed_at REAL, last_error TEXT, sent_at REAL,
            UNIQUE (event_id, url)
        );
        CREATE INDEX wf_outbox_due ON wf_outbox(next_attempt_at) WHERE state != 'sent';
        CREATE TABLE wf_problems (
            id INTEGER PRIMARY KEY,
            signature TEXT NOT NULL, state TEXT NOT NULL,
            projects TEXT NOT NULL, tickets TEXT NOT NULL,
            proposed_at REAL NOT NULL, confirmed_at REAL, confirmed_by TEXT, plan_date TEXT,
            solved_at REAL, closed_by TEXT, note TEXT
        );
        CREATE INDEX wf_problems_signature ON wf_problems(signature);
    """),
]

# What the worker and the API read of a year's tickets (docs/performance.md; timed by
# bench/pg_backend.py): one statement each.
WF_HOT_INDEXES: list[tuple[str, str]] = [
    # an incident's events (its detail page); an event's ticket
    ("wf_events_ticket", "CREATE INDEX IF NOT EXISTS wf_events_ticket ON wf_events(ticket_id)"),
    ("wf_attachments_ticket", "CREATE INDEX IF NOT EXISTS wf_attachments_ticket "
                              "ON wf_attachments(ticket_id)"),
    # resolved tickets whose fault report is still due: the other half of ``clocked``
    ("wf_tickets_report_due", "CREATE INDEX IF NOT EXISTS wf_tickets_report_due "
                              "ON wf_tickets(resolved_at) WHERE fault_report_at IS NULL"),
    # one project's tickets, newest first (the API's list by project)
    ("wf_tickets_project", "CREATE INDEX IF NOT EXISTS wf_tickets_project "
                           "ON wf_tickets(project, id)"),
]
MIGRATIONS.append(("wf_002_hot_query_indexes",
                   "".join(f"{sql};\n" for _, sql in WF_HOT_INDEXES)))

register(__name__, MIGRATIONS)  # collector/db/migrations.py applies them in order
