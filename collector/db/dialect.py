"""The stores' SQL, as PostgreSQL reads it.

The stores are written in one dialect: SQLite's, restricted to what has a plain PostgreSQL
counterpart. ``statement`` turns one statement into PostgreSQL's, and ``script`` a
migration's DDL; both are pure functions of the text (and of the table facts ``Tables``
gives), cached by the connection. What is translated, and nothing else:

- ``?`` placeholders become ``%s`` (a ``%`` of the text becomes ``%%``); quoted text is left.
- ``INSERT OR IGNORE`` becomes ``INSERT ... ON CONFLICT DO NOTHING``; ``INSERT OR REPLACE``
  becomes ``INSERT ... ON CONFLICT (primary key) DO UPDATE`` of every other column.
- an ``INSERT`` into a table with an ``id`` key returns it (``RETURNING id``: ``lastrowid``).
- ``BEGIN IMMEDIATE`` (SQLite's one writer at a time, asked for where a store reads and then
  writes) takes a transaction-scoped advisory lock, so the same blocks exclude each other.
- ``IS ?`` (a comparison that is true of two NULLs) is ``IS NOT DISTINCT FROM``.
- ``strftime('%s', 'now')`` and ``datetime('now')``; ``PRAGMA`` is nothing (SQLite tuning).
- in DDL: ``INTEGER PRIMARY KEY`` is an identity column, ``INTEGER`` ``BIGINT`` (SQLite's
  integers are 64-bit), ``REAL`` ``DOUBLE PRECISION``, ``BLOB`` ``BYTEA``; ``WITHOUT ROWID``
  and ``REFERENCES`` clauses are dropped (SQLite, as the collector opens it, does not
  enforce foreign keys either, and the stores do not rely on them).

A statement using anything else SQLite-only fails on PostgreSQL, loudly: the suite runs
every store against both (``tests/conftest.py``, ``--backend``).
"""

from __future__ import annotations

import re
from typing import Protocol

WRITER_LOCK = 7_352_001  # the advisory lock key ``BEGIN IMMEDIATE`` takes


class Tables(Protocol):
    def has_id(self, table: str) -> bool: ...
    def key_and_columns(self, table: str) -> tuple[list[str], list[str]]: ...


_INSERT = re.compile(r"^\s*INSERT\s+(?:OR\s+(IGNORE|REPLACE)\s+)?INTO\s+(\w+)\s*(\(([^)]*)\))?",
                     re.IGNORECASE)
_DML = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


def placeholders(sql: str) -> str:
    """``?`` -> ``%s`` and ``%`` -> ``%%`` outside quoted text."""
    out: list[str] = []
    quote: str | None = None
    for ch in sql:
        if quote:
            out.append("%%" if ch == "%" else ch)
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    return "".join(out)


def _functions(sql: str) -> str:
    sql = re.sub(r"\bIS\s+\?", "IS NOT DISTINCT FROM ?", sql, flags=re.IGNORECASE)
    sql = re.sub(r"CAST\(\s*strftime\('%s',\s*'now'\)\s+AS\s+REAL\s*\)",
                 "extract(epoch from now())::double precision", sql, flags=re.IGNORECASE)
    sql = re.sub(r"strftime\('%s',\s*'now'\)", "extract(epoch from now())::bigint::text", sql,
                 flags=re.IGNORECASE)
    return re.sub(r"datetime\('now'\)", "to_char(now() AT TIME ZONE 'UTC', "
                  "'YYYY-MM-DD HH24:MI:SS')", sql, flags=re.IGNORECASE)


def is_dml(sql: str) -> bool:
    """Statements that open a transaction implicitly (as Python's sqlite3 module does)."""
    return bool(_DML.match(sql))


def statement(sql: str, tables: Tables, returning: bool = True) -> str:
    """One statement in PostgreSQL's terms (``returning``: add ``RETURNING id`` where the
    table has one; off for ``executemany``)."""
    head = sql.strip().rstrip(";")
    upper = head.upper()
    if upper.startswith("PRAGMA"):
        return ""
    if upper in ("BEGIN", "BEGIN DEFERRED", "BEGIN IMMEDIATE", "BEGIN EXCLUSIVE", "COMMIT",
                 "END", "ROLLBACK"):
        return upper  # the connection keeps the transaction (collector/db/postgres.py)
    head = _functions(head)
    m = _INSERT.match(head)
    if m:
        verb, table, cols = m.group(1), m.group(2), m.group(4)
        body = head[m.end():]
        tail = ""
        if verb and verb.upper() == "IGNORE":
            tail = " ON CONFLICT DO NOTHING"
        elif verb:
            key, columns = tables.key_and_columns(table)
            named = [c.strip() for c in cols.split(",")] if cols else columns
            rest = [c for c in named if c not in key]
            tail = (f" ON CONFLICT ({', '.join(key)}) DO "
                    + (f"UPDATE SET {', '.join(f'{c} = EXCLUDED.{c}' for c in rest)}"
                       if rest else "NOTHING"))
        column_list = f" ({cols})" if cols is not None else ""
        head = f"INSERT INTO {table}{column_list} {body.lstrip()}{tail}"
        if returning and tables.has_id(table) and "RETURNING" not in upper:
            head += " RETURNING id"
    return placeholders(head)


def explicit_ids(sql: str) -> str | None:
    """The table an INSERT names its own ``id`` values for (its sequence must follow)."""
    m = _INSERT.match(sql)
    if m and m.group(4) and "id" in (c.strip() for c in m.group(4).split(",")):
        return m.group(2)
    return None


def script(ddl: str) -> str:
    """A migration's DDL in PostgreSQL's terms."""
    ddl = _functions(ddl)
    ddl = re.sub(r"\bINTEGER\s+PRIMARY\s+KEY\b",
                 "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", ddl, flags=re.I)
    ddl = re.sub(r"\bINTEGER\b", "BIGINT", ddl, flags=re.I)
    ddl = re.sub(r"\bREAL\b", "DOUBLE PRECISION", ddl, flags=re.I)
    ddl = re.sub(r"\bBLOB\b", "BYTEA", ddl, flags=re.I)
    ddl = re.sub(r"\)\s*WITHOUT\s+ROWID", ")", ddl, flags=re.I)
    ddl = re.sub(r"\s+REFERENCES\s+\w+\s*\(\s*\w+\s*\)", "", ddl, flags=re.I)
    return ddl
