"""Users, roles, sessions and API tokens. Every action is checked here, server-side.

Passwords are hashed with scrypt (stdlib) and a per-user salt. A browser signs in and gets
a session cookie; a script uses a bearer token. Both resolve to the same ``User``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI imports ROLES on gateways too: keep this module light
    import sqlite_utils

ROLES = ("seat", "member", "manager", "admin")
ROLE_NAMES = {"seat": "seat agent", "member": "group member", "manager": "manager",
              "admin": "admin"}

# What each role may do. A member acts only on incidents of its own group (checked by the
# caller with ``User.may_act_on``).
PERMISSIONS: dict[str, frozenset[str]] = {
    "view": frozenset(ROLES),
    "incident.create": frozenset({"seat", "admin"}),
    "incident.dispatch": frozenset({"seat", "admin"}),
    "incident.act": frozenset({"seat", "member", "admin"}),
    "incident.verify": frozenset({"seat", "admin"}),
    "incident.close": frozenset({"seat", "admin"}),
    "outage.mark": frozenset({"seat", "manager", "admin"}),
    "maintenance.manage": frozenset({"admin"}),
    "reports.view": frozenset({"manager", "admin", "seat"}),
    "users.manage": frozenset({"admin"}),
    "routing.manage": frozenset({"admin"}),
}

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
]


class AuthError(Exception):
    """Bad credentials or input; the text is safe to show."""


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: str
    group: str | None = None
    display_name: str | None = None

    def can(self, permission: str) -> bool:
        return self.role in PERMISSIONS.get(permission, frozenset())

    def may_act_on(self, group: str | None) -> bool:
        """Members act on their own group's incidents; seat agents and admins on all."""
        if self.role == "member":
            return group is not None and group == self.group
        return self.can("incident.act")

    def public(self) -> dict:
        return {"username": self.username, "role": self.role, "group": self.group,
                "display_name": self.display_name or self.username,
                "permissions": sorted(p for p in PERMISSIONS if self.can(p))}


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt$16384$8$1${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                             p=int(p), dklen=len(digest) // 2)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Users:
    def __init__(self, db: sqlite_utils.Database):
        self.db = db

    def add(self, username: str, password: str, role: str, group: str | None = None,
            display_name: str | None = None) -> User:
        if role not in ROLES:
            raise AuthError(f"role must be one of {', '.join(ROLES)}; got {role!r}")
        if role == "member" and not group:
            raise AuthError("a group member needs a group")
        if not username or len(username) > 64:
            raise AuthError("username must be 1-64 characters")
        if len(password) < 8:
            raise AuthError("password must be at least 8 characters")
        if self._row(username) is not None:
            raise AuthError(f"user {username!r} exists")
        with self.db.conn:
            uid = self.db["users"].insert({
                "username": username, "password_hash": hash_password(password), "role": role,
                "group_name": group, "display_name": display_name}).last_pk
        return User(uid, username, role, group, display_name)

    def _row(self, username: str) -> dict | None:
        rows = list(self.db.query("SELECT * FROM users WHERE username = ?", [username]))
        return rows[0] if rows else None

    @staticmethod
    def _user(row: dict) -> User:
        return User(row["id"], row["username"], row["role"], row["group_name"],
                    row["display_name"])

    def authenticate(self, username: str, password: str) -> User:
        row = self._row(username)
        if row is None or row["disabled"] or not verify_password(password,
                                                                 row["password_hash"]):
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

    def new_api_token(self, username: str, name: str, now: float) -> str:
        row = self._row(username)
        if row is None:
            raise AuthError(f"no user {username!r}")
        token = "pwt_" + secrets.token_urlsafe(32)
        with self.db.conn:
            self.db["api_tokens"].insert({"token_hash": _token_hash(token),
                                          "user_id": row["id"], "name": name,
                                          "created_at": now})
        return token

    def by_session(self, token: str, now: float) -> User | None:
        rows = list(self.db.query(
            "SELECT u.* FROM sessions s JOIN users u ON u.id = s.user_id "
            "WHERE s.token_hash = ? AND s.expires_at > ? AND NOT u.disabled",
            [_token_hash(token), now]))
        return self._user(rows[0]) if rows else None

    def by_api_token(self, token: str) -> User | None:
        rows = list(self.db.query(
            "SELECT u.* FROM api_tokens t JOIN users u ON u.id = t.user_id "
            "WHERE t.token_hash = ? AND NOT u.disabled", [_token_hash(token)]))
        return self._user(rows[0]) if rows else None

    def list(self) -> list[dict]:
        return [self._user(r).public() for r in self.db.query(
            "SELECT * FROM users ORDER BY username")]
