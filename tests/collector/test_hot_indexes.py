"""Migrations 007 and wf_002: the indexes of the hot reads at scale (docs/performance.md),
on either backend (``--backend postgresql``), on a new database and on one migrated before
them; and the API's incident lookup by key."""

from __future__ import annotations

from collector.db.connection import backend, open_db
from collector.db.core_schema import HOT_INDEXES
from collector.db.migrations import migrate
from collector.store import Store, incident_by_id
from collector.tracking.tracker import Tracker
from collector.workflow.config import WorkflowConfig
from collector.workflow.schema import WF_HOT_INDEXES
from collector.workflow.store import WorkflowStore
from tests.collector.test_tracker import ev
from tests.collector.test_tracker import gate_hb as hb

NAMES = {name for name, _ in HOT_INDEXES + WF_HOT_INDEXES}
MIGRATED = ("007_hot_query_indexes", "wf_002_hot_query_indexes")


def indexes(db) -> set[str]:
    if backend(db) == "postgresql":
        rows = db.conn.raw("SELECT indexname FROM pg_indexes WHERE schemaname = "
                           "current_schema()").fetchall()
        return {r[0] for r in rows}
    return {r["name"] for r in db.query("SELECT name FROM sqlite_master WHERE type = 'index'")}


def incident(store: Store) -> None:
    """A gate offline for 70 s: an outage and its incident."""
    t = Tracker(threshold_s=60)
    store.apply(t.receive(hb(0.0), 0.0))
    store.apply(t.receive(ev(1.0, "offline", since=1.0), 1.0))
    store.apply(t.tick(71.0))


def test_a_new_database_has_every_hot_index_and_records_both_migrations(db_target):
    WorkflowStore(db_target, WorkflowConfig()).close()
    db = open_db(db_target)
    try:
        assert NAMES <= indexes(db)
        done = {r["name"] for r in db.query("SELECT name FROM migrations")}
        assert set(MIGRATED) <= done
    finally:
        db.close()


def test_a_database_migrated_before_them_gets_them_and_keeps_its_rows(db_target):
    store = Store(db_target)
    WorkflowStore(db_target, WorkflowConfig()).close()
    incident(store)
    store.db.conn.close()
    db = open_db(db_target)
    try:
        with db.conn:  # as it was before 007 and wf_002
            for name in NAMES:
                db.conn.execute(f"DROP INDEX {name}")
            db.conn.execute("DELETE FROM migrations WHERE name IN (?, ?)", MIGRATED)
        assert not NAMES & indexes(db)
        migrate(db)
        assert NAMES <= indexes(db)
        rows = list(db.query("SELECT count(*) AS n FROM outages"))
        assert rows[0]["n"] == 1
        migrate(db)  # once applied, not again (IF NOT EXISTS would not fail either)
        assert [r["n"] for r in db.query("SELECT count(*) AS n FROM migrations WHERE name "
                                         "IN (?, ?)", MIGRATED)] == [2]
    finally:
        db.close()


def test_the_incident_by_its_id_or_none(db_target):
    store = Store(db_target)
    incident(store)
    db = store.db
    (first,) = list(db.query("SELECT id FROM incidents"))
    row = incident_by_id(db, first["id"])
    assert row["id"] == first["id"] and row["site"] == "s" and row["state"] == "open"
    assert incident_by_id(db, first["id"] + 1) is None
    assert incident_by_id(db, 2 ** 70) is None  # not a storable id: no query, no error
    db.conn.close()
