"""The console's tables: users, sessions and API tokens (their migrations and every query).

``collector.web.auth.Users`` decides (passwords, token checks, what is allowed); this
module only reads and writes rows. Rows come out as plain dicts with the tables' column
names (``users``: id, username, password_hash, role, group_name, display_name, disabled;
tokens: id, user_id, name, prefix, created_at, expires_at, revoked_at). Secrets arrive
here already hashed. Every write runs inside ``transaction()``, so that a change and its
``audit_log`` row are stored together or not at all.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

from collector.db.migrations import register
from collector.web.api_tokens import TOKEN_DAYS_DEFAULT

if TYPE_CHECKING:  # the CLI imports ROLES on gateways too: keep this module light
    from contextlib import AbstractContextManager

    import sqlite_utils

MIGRATIONS = [
    ("100_users_sessions_tokens", """
        CREATE TABLE users (
            id INTEGER PRIMARY KEY, username TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL,
            role TEXT NOT NULL, group_name TEXT, display_name TEXT, disabled INTEGER DEFAULT 0
        );
        CREATE TABLE sessions (
            token_hash TEXT PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id),
            created_at REAL NOT NULL, expires_at REAL NOT NULL
        );
        CREATE TABLE api_tokens (
            token_hash TEXT PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id),
            name TEXT NOT NULL, created_at REAL NOT NULL
        );
    """),
    # Tokens get an id (to revoke by), a prefix (to recognise), an expiry and a revocation
    # time. Tokens issued before this had no expiry: they expire TOKEN_DAYS_DEFAULT days
    # after the upgrade.
    ("101_api_token_expiry_revocation", f"""
        CREATE TABLE api_tokens_v2 (
            id INTEGER PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE,
            user_id INTEGER NOT NULL REFERENCES users(id), name TEXT NOT NULL,
            prefix TEXT NOT NULL, created_at REAL NOT NULL, expires_at REAL NOT NULL,
            revoked_at REAL
        );
        INSERT INTO api_tokens_v2 (token_hash, user_id, name, prefix, created_at, expires_at)
            SELECT token_hash, user_id, name, '', created_at,
                   CAST(strftime('%s', 'now') AS REAL) + {TOKEN_DAYS_DEFAULT * 86400}
            FROM api_tokens;
        DROP TABLE api_tokens;
        ALTER TABLE api_tokens_v2 RENAME TO api_tokens;
    """),
]

_TOKEN_COLUMNS = ("SELECT t.id, t.user_id, t.name, t.prefix, t.created_at, t.expires_at, "
                  "t.revoked_at FROM api_tokens t")


def is_foreign_database(path: Path) -> bool:
    """True when an existing SQLite file holds tables but no users table (another
    program's file); read through a read-only connection, so the file stays as it was."""
    with closing(sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    return bool(names) and "users" not in names


class UserStore:
    """Users, sessions and API tokens in the collector's SQLite database."""

    def __init__(self, db: sqlite_utils.Database):
        self.db = db

    def transaction(self) -> AbstractContextManager:
        """A block whose writes commit together at its end, or roll back on an exception."""
        return self.db.conn

    # --- users -----------------------------------------------------------------------------

    def user(self, username: str) -> dict | None:
        """The user's row, or None when there is no such user."""
        return self._one("SELECT * FROM users WHERE username = ?", [username])

    def users(self) -> list[dict]:
        """Every user's row, by username."""
        return list(self.db.query("SELECT * FROM users ORDER BY username"))

    def add_user(self, username: str, password_hash: str, role: str, group: str | None,
                 display_name: str | None) -> int:
        """Insert an enabled user; returns its id."""
        return self.db.conn.execute(
            "INSERT INTO users (username, password_hash, role, group_name, display_name) "
            "VALUES (?, ?, ?, ?, ?)",
            (username, password_hash, role, group, display_name)).lastrowid

    def set_disabled(self, user_id: int, disabled: bool) -> None:
        """Mark the user disabled (or enabled)."""
        self.db.conn.execute("UPDATE users SET disabled = ? WHERE id = ?",
                             (int(disabled), user_id))

    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        """Replace the user's password hash."""
        self.db.conn.execute("UPDATE users SET password_hash = ? WHERE id = ?",
                             (password_hash, user_id))

    # --- sessions --------------------------------------------------------------------------

    def add_session(self, token_hash: str, user_id: int, created_at: float,
                    expires_at: float) -> None:
        """Insert a session (its token's hash) for the user."""
        self.db.conn.execute(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) "
            "VALUES (?, ?, ?, ?)", (token_hash, user_id, created_at, expires_at))

    def end_session(self, token_hash: str) -> None:
        """Delete the session with this token hash (nothing when there is none)."""
        self.db.conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

    def end_sessions(self, user_id: int) -> None:
        """Delete every session of the user."""
        self.db.conn.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))

    def session_user(self, token_hash: str, now: float) -> dict | None:
        """The row of the enabled user whose session this is and lasts past ``now``."""
        return self._one(
            "SELECT u.* FROM sessions s JOIN users u ON u.id = s.user_id "
            "WHERE s.token_hash = ? AND s.expires_at > ? AND u.disabled = 0",
            [token_hash, now])

    # --- API tokens ------------------------------------------------------------------------

    def token_user(self, token_hash: str, now: float) -> dict | None:
        """The row of the enabled user whose unrevoked token this is and lasts past ``now``."""
        return self._one(
            "SELECT u.* FROM api_tokens t JOIN users u ON u.id = t.user_id "
            "WHERE t.token_hash = ? AND t.revoked_at IS NULL AND t.expires_at > ? "
            "AND u.disabled = 0", [token_hash, now])

    def add_token(self, token_hash: str, user_id: int, name: str, prefix: str,
                  created_at: float, expires_at: float) -> int:
        """Insert an API token; returns its id."""
        return self.db.conn.execute(
            "INSERT INTO api_tokens (token_hash, user_id, name, prefix, created_at, "
            "expires_at) VALUES (?, ?, ?, ?, ?, ?)",
            (token_hash, user_id, name, prefix, created_at, expires_at)).lastrowid

    def revoke_token(self, token_id: int, now: float) -> None:
        """Mark the token revoked at ``now``."""
        self.db.conn.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ?",
                             (now, token_id))

    def tokens(self) -> list[dict]:
        """Every token of every user (without its hash), by id."""
        return list(self.db.query(f"{_TOKEN_COLUMNS} ORDER BY t.id"))

    def token_by_id(self, user_id: int, token_id: int) -> list[dict]:
        """The user's token with this id (an empty list when it has none)."""
        return self._tokens("t.user_id = ? AND t.id = ?", [user_id, token_id])

    def token_by_hash(self, user_id: int, token_hash: str) -> list[dict]:
        """The user's token with this hash (an empty list when it has none)."""
        return self._tokens("t.user_id = ? AND t.token_hash = ?", [user_id, token_hash])

    def tokens_by_prefix(self, user_id: int, start: str) -> list[dict]:
        """The user's tokens whose prefix begins with ``start`` (old tokens have none)."""
        return self._tokens("t.user_id = ? AND t.prefix != '' AND substr(t.prefix, 1, ?) = ?",
                            [user_id, len(start), start])

    # --- the audit log ---------------------------------------------------------------------

    def audit(self, now: float, actor: str, action: str, target: str, reason: str,
              detail: dict) -> None:
        """Append an ``audit_log`` row (``detail`` stored as JSON)."""
        self.db.conn.execute(
            "INSERT INTO audit_log (at, actor, action, target, reason, detail) "
            "VALUES (?, ?, ?, ?, ?, ?)", (now, actor, action, target, reason, json.dumps(detail)))

    def _one(self, sql: str, params: list) -> dict | None:
        rows = list(self.db.query(sql, params))
        return rows[0] if rows else None

    def _tokens(self, where: str, params: list) -> list[dict]:
        return list(self.db.query(f"{_TOKEN_COLUMNS} WHERE {where} ORDER BY t.id", params))


register(__name__, MIGRATIONS)  # collector/db/migrations.py applies them in order
