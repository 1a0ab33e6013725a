"""The collector's database on PostgreSQL (psycopg 3), for a fleet past one machine.

``PgDatabase`` offers what the stores use of sqlite-utils' ``Database`` (``execute``,
``query``, ``conn``, ``close``), and its ``conn`` what they use of a ``sqlite3``
connection, with the same transaction rules: a data-changing statement opens a
transaction, ``commit``/``rollback`` and ``with conn:`` end it, reads outside one see what
is committed. So every store runs unchanged on either backend; the SQL is translated by
``collector.db.dialect``. Errors come out as the ``sqlite3`` exception family the storage
guard already sorts (``collector/storage_guard.py``): a lost connection, a server shutting
down, a full disk or a serialization failure is an ``OperationalError`` (the store is
retried and the message held), a constraint an ``IntegrityError``, a bad statement a
``ProgrammingError``. A connection lost outside a transaction is opened again on next use;
one lost inside fails that transaction, which its owner retries from the start.
"""

from __future__ import annotations

import sqlite3
import threading

import psycopg
from psycopg import errors as pg
from psycopg.adapt import Dumper
from psycopg.types.numeric import FloatLoader

from collector.db import dialect

BACKEND = "postgresql"
MIGRATION_LOCK = 7_352_000  # advisory lock held while one process migrates


class PgOperationalError(sqlite3.OperationalError):
    """The server or the connection failed (down, restarting, full, a conflict): try again."""


class PgIntegrityError(sqlite3.IntegrityError):
    """A constraint refused the row."""


class PgProgrammingError(sqlite3.ProgrammingError):
    """The statement or its data is wrong (a bug, or a value out of range): not retried."""


_CONTROL = {"BEGIN", "BEGIN DEFERRED", "BEGIN IMMEDIATE", "BEGIN EXCLUSIVE", "COMMIT", "END",
            "ROLLBACK"}
_RETRY_CLASSES = ("08", "40", "53", "55", "57", "58", "XX")  # SQLSTATE classes: try again


def wrap(e: psycopg.Error) -> sqlite3.Error:
    state = getattr(e, "sqlstate", None) or ""
    text = f"{type(e).__name__}: {e}".strip()
    if isinstance(e, psycopg.OperationalError) or state[:2] in _RETRY_CLASSES \
            or isinstance(e, pg.InFailedSqlTransaction | pg.ReadOnlySqlTransaction):
        return PgOperationalError(text)
    if isinstance(e, psycopg.IntegrityError):
        return PgIntegrityError(text)
    return PgProgrammingError(text)


class _BoolAsInt(Dumper):
    """``True``/``False`` stored as 1/0, as SQLite stores them (the schema has no booleans)."""

    oid = psycopg.adapters.types["int8"].oid

    def dump(self, obj):
        return b"1" if obj else b"0"


class PgCursor:
    """The result of one statement: rows, ``rowcount``, ``lastrowid`` and ``description``."""

    def __init__(self, cur: psycopg.Cursor | None, lastrowid: int | None = None):
        self._cur, self.lastrowid = cur, lastrowid
        self.rowcount = cur.rowcount if cur is not None else -1
        self.description = cur.description if cur is not None else None

    def fetchone(self):
        return self._cur.fetchone() if self.description else None

    def fetchall(self) -> list:
        return self._cur.fetchall() if self.description else []

    def __iter__(self):
        return iter(self.fetchall())


class _Facts:
    """What the dialect asks about tables, read from the catalogue once per table."""

    def __init__(self, conn: PgConnection):
        self._conn = conn
        self._ids: dict[str, bool] = {}
        self._keys: dict[str, tuple[list[str], list[str]]] = {}

    def clear(self) -> None:
        self._ids.clear()
        self._keys.clear()

    def has_id(self, table: str) -> bool:
        if table not in self._ids:
            self._ids[table] = bool(self._conn.raw(
                "SELECT 1 FROM information_schema.columns WHERE table_schema = "
                "current_schema() AND table_name = %s AND column_name = 'id'",
                [table]).fetchall())
        return self._ids[table]

    def key_and_columns(self, table: str) -> tuple[list[str], list[str]]:
        if table not in self._keys:
            cols = [r[0] for r in self._conn.raw(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                "current_schema() AND table_name = %s ORDER BY ordinal_position",
                [table]).fetchall()]
            key = [r[0] for r in self._conn.raw(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON "
                "a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE "
                "i.indrelid = to_regclass(%s) AND i.indisprimary", [table]).fetchall()]
            if not key:
                raise PgProgrammingError(f"INSERT OR REPLACE into {table}: it has no key")
            self._keys[table] = (key, cols)
        return self._keys[table]


class PgConnection:
    """One psycopg connection behaving as the stores expect a ``sqlite3`` one to."""

    backend = BACKEND

    def __init__(self, url: str):
        self.url = url
        self.in_transaction = False
        self._conn: psycopg.Connection | None = None
        self._lock = threading.RLock()
        self._sql: dict[tuple[str, bool], tuple[str, bool, str | None]] = {}
        self.facts = _Facts(self)
        self._open()

    def _open(self) -> None:
        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except psycopg.Error as e:
            raise wrap(e) from e
        conn.adapters.register_loader("numeric", FloatLoader)  # avg(), sum() of integers
        conn.adapters.register_dumper(bool, _BoolAsInt)
        self._conn = conn

    def _live(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            if self.in_transaction:  # what it held is gone with it
                self.in_transaction = False
                raise PgOperationalError("the connection to PostgreSQL was lost")
            self._open()
        return self._conn

    def raw(self, sql: str, params=None) -> psycopg.Cursor:
        """A statement in PostgreSQL's own terms."""
        try:
            return self._live().execute(sql, params)
        except psycopg.Error as e:
            raise wrap(e) from e

    def raw_together(self, statements: list[tuple[str, list | None]]) -> list:
        """Statements in PostgreSQL's own terms sent in one round trip (a pipeline); the
        rows of the last. A ``BEGIN`` among them is the caller's to mark
        (``in_transaction``)."""
        with self._lock:
            conn = self._live()
            try:
                with conn.pipeline():
                    cursors = [conn.execute(sql, params) for sql, params in statements]
                return cursors[-1].fetchall()
            except psycopg.Error as e:
                raise wrap(e) from e

    def _translated(self, sql: str, returning: bool) -> tuple[str, bool, str | None]:
        key = (sql, returning)
        hit = self._sql.get(key)
        if hit is None:
            hit = (dialect.statement(sql, self.facts, returning), dialect.is_dml(sql),
                   dialect.explicit_ids(sql))
            if len(self._sql) > 2000:
                self._sql.clear()
            self._sql[key] = hit
        return hit

    def _control(self, word: str) -> PgCursor:
        if word in ("COMMIT", "END"):
            self.commit()
        elif word == "ROLLBACK":
            self.rollback()
        else:
            if self.in_transaction:
                raise PgOperationalError("cannot start a transaction within a transaction")
            self.raw("BEGIN")
            self.in_transaction = True
            if word in ("BEGIN IMMEDIATE", "BEGIN EXCLUSIVE"):
                self.raw("SELECT pg_advisory_xact_lock(%s)", [dialect.WRITER_LOCK])
        return PgCursor(None)

    def execute(self, sql: str, params=None) -> PgCursor:
        with self._lock:
            text, dml, own_ids = self._translated(sql, True)
            if text == "":
                return PgCursor(None)
            if text in _CONTROL:
                return self._control(text)
            if dml and not self.in_transaction:
                self.raw("BEGIN")
                self.in_transaction = True
            cur = self.raw(text, list(params) if params is not None else None)
            if text.lstrip()[:6].upper() in ("CREATE", "ALTER ", "DROP T"):
                self._schema_changed()
            lastrowid = None
            if text.endswith("RETURNING id"):
                row = cur.fetchone()
                lastrowid = row[0] if row else None
            if own_ids:
                self._follow_ids(own_ids)
            return PgCursor(cur, lastrowid)

    def executemany(self, sql: str, rows) -> PgCursor:
        with self._lock:
            text, dml, own_ids = self._translated(sql, False)
            if dml and not self.in_transaction:
                self.raw("BEGIN")
                self.in_transaction = True
            cur = self._live().cursor()
            try:
                cur.executemany(text, [list(r) for r in rows])
            except psycopg.Error as e:
                raise wrap(e) from e
            if own_ids:
                self._follow_ids(own_ids)
            return PgCursor(cur)

    def _follow_ids(self, table: str) -> None:
        """After rows with their own ids, the identity goes on after the highest."""
        self.raw(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), m) FROM "
                 f"(SELECT max(id) AS m FROM {table}) s WHERE m IS NOT NULL")

    def _schema_changed(self) -> None:
        self.facts.clear()
        self._sql.clear()

    def executescript(self, sql: str) -> None:
        with self._lock:
            self.raw(dialect.script(sql))
            self._schema_changed()

    def commit(self) -> None:
        with self._lock:
            if not self.in_transaction:
                return
            self.in_transaction = False
            self.raw("COMMIT")

    def rollback(self) -> None:
        with self._lock:
            if not self.in_transaction:
                return
            self.in_transaction = False
            try:
                self.raw("ROLLBACK")
            except sqlite3.Error:  # the connection is gone, and the transaction with it
                pass

    def __enter__(self) -> PgConnection:
        return self

    def __exit__(self, kind, value, tb) -> bool:
        if kind is None:
            self.commit()
        else:
            self.rollback()
        return False

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


class PgDatabase:
    """What the stores use of sqlite-utils' ``Database``, on PostgreSQL."""

    backend = BACKEND

    def __init__(self, url: str):
        self.url = url
        self.conn = PgConnection(url)

    def execute(self, sql: str, params=None) -> PgCursor:
        return self.conn.execute(sql, params)

    def query(self, sql: str, params=None):
        cur = self.conn.execute(sql, params)
        names = [d.name for d in cur.description or ()]
        for row in cur.fetchall():
            yield dict(zip(names, row, strict=True))

    def columns(self, table: str) -> list[str]:
        """The table's column names, in order."""
        return [r[0] for r in self.conn.raw(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = "
            "current_schema() AND table_name = %s ORDER BY ordinal_position",
            [table]).fetchall()]

    def migrate(self, migrations: list[tuple[str, str]]) -> None:
        """Apply those not applied, all in one transaction, one process at a time. A
        database already up to date is only read (no lock: every store and every
        partition's ingest opens one, and a reconnect opens them again)."""
        conn = self.conn
        with conn._lock:
            if self._up_to_date(migrations):
                return
            conn._control("BEGIN")
            try:
                conn.raw("SELECT pg_advisory_xact_lock(%s)", [MIGRATION_LOCK])
                conn.raw("CREATE TABLE IF NOT EXISTS migrations "
                         "(name TEXT PRIMARY KEY, applied_at TEXT)")
                done = {r[0] for r in conn.raw("SELECT name FROM migrations").fetchall()}
                for name, sql in migrations:
                    if name in done:
                        continue
                    conn.raw(dialect.script(sql))
                    conn.raw("INSERT INTO migrations VALUES (%s, to_char(now() AT TIME ZONE "
                             "'UTC', 'YYYY-MM-DD HH24:MI:SS'))", [name])
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
            conn._schema_changed()

    def _up_to_date(self, migrations: list[tuple[str, str]]) -> bool:
        conn = self.conn
        if conn.raw("SELECT to_regclass('migrations')").fetchone()[0] is None:
            return False
        done = {r[0] for r in conn.raw("SELECT name FROM migrations").fetchall()}
        return all(name in done for name, _ in migrations)

    def close(self) -> None:
        self.conn.close()

