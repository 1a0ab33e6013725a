"""Users, sessions and API tokens (roles and permissions: ``collector.web.roles``; their
tables and queries: ``collector.web.store_users``).

Passwords are hashed with scrypt (stdlib) and a per-user salt. A browser signs in and gets
a session cookie; a script uses a bearer token. Both resolve to the same ``User``. Sessions
and tokens are stored only as SHA-256 hashes; a token also keeps its first characters (its
prefix) so that it can be named in a listing and revoked. Every change to a user (added,
disabled, enabled, password set, token issued or revoked) made with an actor (``by``; the
CLI always names one) writes an ``audit_log`` row in the same transaction.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

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
from collector.web.store_users import UserStore

if TYPE_CHECKING:  # the CLI imports ROLES on gateways too: keep this module light
    import sqlite_utils

SESSION_TTL_S = 12 * 3600


class Users(ApiTokens):
    def __init__(self, db: sqlite_utils.Database):
        self.db = db  # kept for callers that read other tables through it
        self.store = UserStore(db)

    # --- who is calling --------------------------------------------------------------------

    def authenticate(self, username: str, password: str) -> User:
        row = self._row(username)
        ok = verify_password(password, row["password_hash"] if row else dummy_hash())
        if row is None or not ok or row["disabled"]:
            raise AuthError("wrong username or password")
        return self._user(row)

    def new_session(self, user: User, now: float) -> str:
        token = secrets.token_urlsafe(32)
        with self.store.transaction():
            self.store.add_session(_token_hash(token), user.id, now, now + SESSION_TTL_S)
        return token

    def end_session(self, token: str) -> None:
        with self.store.transaction():
            self.store.end_session(_token_hash(token))

    def by_session(self, token: str, now: float) -> User | None:
        row = self.store.session_user(_token_hash(token), now)
        return self._user(row) if row else None

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
        with self.store.transaction():
            uid = self.store.add_user(username, hash_password(password), role, group,
                                      display_name)
            self._audit(now, by, "user_add", username, {"role": role, "group": group})
        return User(uid, username, role, group, display_name)

    def set_disabled(self, username: str, disabled: bool, now: float, by: str) -> None:
        """Disable (or enable) a user. Disabling ends its sessions at once; its tokens stop
        working at once too (every token lookup checks the user)."""
        row = self._existing(username)
        if bool(row["disabled"]) == disabled:
            raise AuthError(f"user {username!r} is already {'dis' if disabled else 'en'}abled")
        with self.store.transaction():
            self.store.set_disabled(row["id"], disabled)
            if disabled:
                self.store.end_sessions(row["id"])
            self._audit(now, by, "user_disable" if disabled else "user_enable", username, {})

    def set_password(self, username: str, password: str, now: float, by: str) -> None:
        """A new password; the user's sessions end (its API tokens are kept)."""
        row = self._existing(username)
        check_password(password)
        hashed = hash_password(password)
        with self.store.transaction():
            self.store.set_password_hash(row["id"], hashed)
            self.store.end_sessions(row["id"])
            self._audit(now, by, "user_passwd", username, {})

    # --- reading ---------------------------------------------------------------------------

    def list(self) -> list[dict]:
        return [self._user(r).public() for r in self.store.users()]

    def overview(self) -> list[dict]:
        """Every user with role, group, disabled, and its tokens (id, name, prefix,
        created, expires, revoked)."""
        tokens: dict[int, list[dict]] = {}
        for t in self.store.tokens():
            tokens.setdefault(t.pop("user_id"), []).append(t)
        return [{"username": r["username"], "role": r["role"], "group": r["group_name"],
                 "disabled": bool(r["disabled"]), "tokens": tokens.get(r["id"], [])}
                for r in self.store.users()]

    def _row(self, username: str) -> dict | None:
        return self.store.user(username)

    def _existing(self, username: str) -> dict:
        row = self._row(username)
        if row is None:
            raise AuthError(f"no user {username!r}")
        return row

    def _audit(self, now: float, by: str | None, action: str, username: str,
               detail: dict) -> None:
        if by is None:
            return
        self.store.audit(now, by, action, f"user:{username}", action, detail)

    @staticmethod
    def _user(row: dict) -> User:
        return User(row["id"], row["username"], row["role"], row["group_name"],
                    row["display_name"])

