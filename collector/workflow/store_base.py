"""The workflow store's connection: open and migrate, or join an owner's transactions.

``StoreBase`` is what the table families of ``WorkflowStore`` (collector/workflow/store.py)
share: ``db``, ``cfg``, ``transaction`` and two plain-SQL helpers.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from collector.db.connection import open_db, request_db
from collector.db.migrations import migrate
from collector.workflow.config import WorkflowConfig


def ensure_schema(db: sqlite_utils.Database) -> None:
    """Run the migrations; a second process doing the same at once is waited out."""
    for attempt in range(50):
        try:
            migrate(db)
            return
        except sqlite3.OperationalError:
            if db.conn.in_transaction:
                db.conn.rollback()
            if attempt == 49:
                raise
            time.sleep(0.1)


class StoreBase:
    def __init__(self, path: str | Path, cfg: WorkflowConfig, request: bool = False):
        """``request``: the connection of one HTTP request (``request_db``: on PostgreSQL
        a kept one, given back by ``close``)."""
        self.cfg = cfg
        self.db = request_db(path) if request else open_db(path)
        self._joined = False
        try:
            ensure_schema(self.db)
        except BaseException:  # no connection left open behind a failure
            self.db.close()
            raise

    @classmethod
    def joined(cls, db: sqlite_utils.Database, cfg: WorkflowConfig) -> StoreBase:
        """A store on a connection whose owner keeps the transactions: every change joins
        the one the owner has open (the scenario runner's batches), and commits with it."""
        store = cls.__new__(cls)
        store.cfg, store.db, store._joined = cfg, db, True
        ensure_schema(db)
        return store

    def close(self) -> None:
        if not self._joined:
            self.db.conn.close()

    @contextmanager
    def transaction(self):
        conn = self.db.conn
        if self._joined:
            yield
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.rollback()
            raise
        conn.commit()

    def _where_in(self, sql: str, ids: list[int], tail: str = ""):
        """Rows of ``sql IN (ids)``, a chunk of ids at a time."""
        for chunk in range(0, len(ids), 500):
            part = ids[chunk:chunk + 500]
            yield from self.db.query(f"{sql} IN ({','.join('?' * len(part))}) {tail}", part)

    def _insert(self, table: str, row: dict) -> int:
        """One row by a plain INSERT: sqlite-utils' ``insert`` reads the table's columns on
        every call, which was most of the cost of a ticket (a scenario makes 100,000)."""
        cur = self.db.execute(
            f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
            [json.dumps(v) if isinstance(v, dict | list) else v for v in row.values()])
        return cur.lastrowid
