"""The API's PostgreSQL connections kept for reuse (collector/db/pg_pool.py): one server
connection across requests, each borrower starting with no transaction open, and what a
borrower left half-done never committed by the next; SQLite keeps a new connection each."""

from __future__ import annotations

import gc

from collector.db import pg_pool
from collector.db.connection import request_db
from collector.store import Store
from collector.workflow.config import WorkflowConfig
from collector.workflow.store import WorkflowStore
from simulators.postgres import PostgresServer, fresh_database


def backend_pid(db) -> int:
    return db.conn.raw("SELECT pg_backend_pid()").fetchone()[0]


def test_a_closed_borrow_is_the_next_ones_server_connection(pg_database):
    Store(pg_database).db.close()
    first = request_db(pg_database)
    pid = backend_pid(first)
    first.close()
    assert pg_pool.idle_count(pg_database) == 1
    second = request_db(pg_database)
    assert backend_pid(second) == pid and not second.conn.in_transaction
    second.close()


def test_what_a_borrower_left_open_is_rolled_back_not_committed(pg_database):
    Store(pg_database).db.close()
    db = request_db(pg_database)
    db.execute("INSERT INTO projects VALUES ('half', 'UTC', 60, 60)")
    assert db.conn.in_transaction
    db.conn.close()  # as WorkflowStore.close does
    again = request_db(pg_database)
    assert not again.conn.in_transaction
    assert list(again.query("SELECT project FROM projects")) == []
    again.close()


def test_one_dropped_without_close_comes_back_and_a_stale_close_frees_nothing(pg_database):
    Store(pg_database).db.close()
    pg_pool.close_idle(pg_database)
    db = request_db(pg_database)
    conn = db.conn
    del db
    gc.collect()
    assert pg_pool.idle_count(pg_database) == 1
    a = request_db(pg_database)
    assert a.conn is conn
    a.close()
    b = request_db(pg_database)  # the same connection, lent again
    a.close()  # a's second close: b keeps it
    assert b.conn is conn and pg_pool.idle_count(pg_database) == 0
    b.execute("INSERT INTO projects VALUES ('b', 'UTC', 60, 60)")
    assert b.conn.in_transaction  # a's close rolled nothing of b's back
    b.conn.commit()
    b.close()


def test_a_request_store_migrates_once_per_connection(pg_database):
    cfg = WorkflowConfig()
    WorkflowStore(pg_database, cfg, request=True).close()
    s = WorkflowStore(pg_database, cfg, request=True)
    conn = s.db.conn
    assert conn.migrated is not None
    conn.raw("DELETE FROM migrations WHERE name = 'wf_002_hot_query_indexes'")
    s.close()
    s = WorkflowStore(pg_database, cfg, request=True)  # the same connection: not again
    assert s.db.conn is conn
    assert "wf_002_hot_query_indexes" not in {r[0] for r in conn.raw(
        "SELECT name FROM migrations").fetchall()}
    s.close()


def test_a_kept_connection_outlives_a_server_restart(monkeypatch):
    monkeypatch.setattr(pg_pool, "CHECK_AFTER_S", 0.0)
    with PostgresServer() as server:  # its own: this one is killed
        url = fresh_database(server)
        Store(url).db.close()
        db = request_db(url)
        before = backend_pid(db)
        db.close()
        server.kill()
        server.start()
        db = request_db(url)  # its check failed: the first statement connects again
        assert list(db.query("SELECT count(*) AS n FROM projects")) == [{"n": 0}]
        assert backend_pid(db) != before
        db.close()
        pg_pool.close_idle(url)


def test_sqlite_keeps_a_new_connection_a_request(tmp_path):
    path = tmp_path / "c.db"
    Store(path).db.close()
    a, b = request_db(path), request_db(path)
    assert a.conn is not b.conn and not hasattr(a, "backend")
    a.close()
    b.close()
