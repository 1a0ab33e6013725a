"""Users, sessions and API tokens (roles and permissions: ``collector.web.roles``). Every

Passwords are hashed with scrypt (stdlib) and a per-user salt. A browser signs in and gets
a session cookie; a script uses a bearer token. Both resolve to the same ``User``. Sessions
and tokens are stored only as SHA-256 hashes; a token also keeps its first characters (its
prefix) so that it can be named in a listing and revoked. Every change to a user (added,
disabled, enabled, password set, token issued or revoked) made with an actor (``by``; the
CLI always names one) writes an ``audit_log`` row in the same transaction.
"""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING

from collector.db.migrations import register
from collector.web.api_tokens import (  # noqa: F401 (the limits: re-exported)
    TOKEN_DAYS_DEFAULT,
    TOKEN_DAYS_MAX,
    ApiTokens,
    _token_hash,
)
from collector.web.passwords import (  # noqa: F401 (hash_password, AuthError: re-exported)
    AuthError,
    check_password,
    dummy_hash,
    hash_password,
    verify_password,
)
from collector.web.roles import (  # noqa: F401 (re-exported: the users' checks)
    PERMISSIONS,
    ROLE_NAMES,
    ROLES,
    User,
)

if TYPE_CHECKING:  # the CLI imports ROLES on gateways too: keep this module light
    import sqlite_utils

SESSION_TTL_S = 12 * 3600

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


class Users(ApiTokens):
    def __init__(self, db: sqlite_utils.Database):
        self.db = db

    # --- who is calling --------------------------------------------------------------------

    def authenticate(self, username: str, password: str) -> User:
        row = self._row(username)
        ok = verify_password(password, row["password_hash"] if row else dummy_hash())
        if row is None or not ok or row["disabled"]:
            raise AuthError("wrong username or password")
        return self._user(row)

    def new_session(self, user: User, now: float) -> str:
        token = secrets.token_urlsafe(32)
        with self.db.conn:
            self.db["sessions"].insert({"token_hash": _token_hash(token), "user_id": user.id,
                                        "created_at": now, "expires_at": now + SESSION_TTL_S})
        return token

    def end_session(self, token: str) -> None:
        with self.db.conn:
            self.db.execute("DELETE FROM sessions WHERE token_hash = ?", [_token_hash(token)])

    def by_session(self, token: str, now: float) -> User | None:
        rows = list(self.db.query(
            "SELECT u.* FROM sessions s JOIN users u ON u.id = s.user_id "
            "WHERE s.token_hash = ? AND s.expires_at > ? AND NOT u.disabled",
            [_token_hash(token), now]))
        return self._user(rows[0]) if rows else None

    # --- changes, each audited -------------------------------------------------------------

    def add(self, username: str, password: str, role: str, group: str | None = None,
            display_name: str | None = None, *, by: str | None = None,
            now: float = 0.0) -> User:
        """Add a user; audited as ``by`` at ``now`` when ``by`` is given (the CLI always
        gives it; test fixtures do not)."""
        if role not in ROLES:
            raise AuthError(f"role must be one of {', '.join(ROLES)}; got {role!r}")
        if role == "member" and not group:
            raise AuthError("a group member needs a group")
        if not username or len(username) > 64:
            raise AuthError("username must be 1-64 characters")
        check_password(password)
        if self._row(username) is not None:
            raise AuthError(f"user {username!r} exists")
        with self.db.conn:
            uid = self.db["users"].insert({
                "username": username, "password_hash": hash_password(password), "role": role,
                "group_name": group, "display_name": display_name}).last_pk
            self._audit(now, by, "user_add", username, {"role": role, "group": group})
        return User(uid, username, role, group, display_name)

    def set_disabled(self, username: str, disabled: bool, now: float, by: str) -> None:
        """Disable (or enable) a user. Disabling ends its sessions at once; its tokens stop
        working at once too (every token lookup checks the user)."""
        row = self._existing(username)
        if bool(row["disabled"]) == disabled:
            raise AuthError(f"user {username!r} is already {'dis' if disabled else 'en'}abled")
        with self.db.conn:
            self.db.execute("UPDATE users SET disabled = ? WHERE id = ?",
                            [int(disabled), row["id"]])
            if disabled:
                self.db.execute("DELETE FROM sessions WHERE user_id = ?", [row["id"]])
            self._audit(now, by, "user_disable" if disabled else "user_enable", username, {})

    def set_password(self, username: str, password: str, now: float, by: str) -> None:
        """A new password; the user's sessions end (its API tokens are kept)."""
        row = self._existing(username)
        check_password(password)
        with self.db.conn:
            self.db.execute("UPDATE users SET password_hash = ? WHERE id = ?",
                            [hash_password(password), row["id"]])
            self.db.execute("DELETE FROM sessions WHERE user_id = ?", [row["id"]])
            self._audit(now, by, "user_passwd", username, {})

    # --- reading ---------------------------------------------------------------------------

    def list(self) -> list[dict]:
        return [self._user(r).public() for r in self.db.query(
            "SELECT * FROM users ORDER BY username")]

    def overview(self) -> list[dict]:
        """Every user with role, group, disabled, and its tokens (id, name, prefix,
        created, expires, revoked)."""
        tokens: dict[int, list[dict]] = {}
        for t in self._tokens("1", []):
            tokens.setdefault(t.pop("user_id"), []).append(t)
        return [{"username": r["username"], "role": r["role"], "group": r["group_name"],
                 "disabled": bool(r["disabled"]), "tokens": tokens.get(r["id"], [])}
                for r in self.db.query("SELECT * FROM users ORDER BY username")]

    def _row(self, username: str) -> dict | None:
        rows = list(self.db.query("SELECT * FROM users WHERE username = ?", [username]))
        return rows[0] if rows else None

    def _existing(self, username: str) -> dict:
        row = self._row(username)
        if row is None:
            raise AuthError(f"no user {username!r}")
        return row

    def _audit(self, now: float, by: str | None, action: str, username: str,
               detail: dict) -> None:
        if by is None:
            return
        self.db.conn.execute(
            "INSERT INTO audit_log (at, actor, action, target, reason, detail) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (now, by, action, f"user:{username}", action, json.dumps(detail)))

    @staticmethod
    def _user(row: dict) -> User:
        return User(row["id"], row["username"], row["role"], row["group_name"],
                    row["display_name"])


register(__name__, MIGRATIONS)  # collector/db/migrations.py applies them in order
