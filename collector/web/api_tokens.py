"""API tokens: issued with an expiry, stored as SHA-256 hashes with a short prefix (to
name one in a listing and revoke it), refused once expired or revoked or when the user is
disabled. Part of ``collector.web.auth.Users`` (a mixin over its table and audit helpers).
"""

from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING

from collector.web.passwords import AuthError

if TYPE_CHECKING:
    from collector.web.roles import User

TOKEN_DAYS_DEFAULT = 90  # an API token lives this long unless told otherwise
TOKEN_DAYS_MAX = 365  # and never longer
TOKEN_PREFIX_LEN = 12  # "pwt_" and 8 characters: enough to name it, useless to guess it


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ApiTokens:
    """Needs ``db``, ``_existing(username)``, ``_audit(...)`` and ``_user(row)``."""

    def by_api_token(self, token: str, now: float) -> User | None:
        """The token's user, if the token exists, is not revoked or expired, and its user
        is not disabled."""
        rows = list(self.db.query(
            "SELECT u.* FROM api_tokens t JOIN users u ON u.id = t.user_id "
            "WHERE t.token_hash = ? AND t.revoked_at IS NULL AND t.expires_at > ? "
            "AND NOT u.disabled", [_token_hash(token), now]))
        return self._user(rows[0]) if rows else None

    def new_api_token(self, username: str, name: str, now: float,
                      days: int = TOKEN_DAYS_DEFAULT, *, by: str | None = None) -> str:
        """Issue a bearer token that expires ``days`` days after ``now``; audited when
        ``by`` is given."""
        row = self._existing(username)
        if row["disabled"]:
            raise AuthError(f"user {username!r} is disabled: enable it first")
        if not isinstance(days, int) or not 1 <= days <= TOKEN_DAYS_MAX:
            raise AuthError(f"a token lives 1-{TOKEN_DAYS_MAX} days; got {days!r}")
        if not name or len(name) > 100:
            raise AuthError("a token's name must be 1-100 characters")
        token = "pwt_" + secrets.token_urlsafe(32)
        prefix = token[:TOKEN_PREFIX_LEN]
        with self.db.conn:
            tid = self.db["api_tokens"].insert({
                "token_hash": _token_hash(token), "user_id": row["id"], "name": name,
                "prefix": prefix, "created_at": now, "expires_at": now + days * 86400}).last_pk
            self._audit(now, by, "token_issue", username,
                        {"token": tid, "prefix": prefix, "name": name, "days": days})
        return token

    def revoke_api_token(self, username: str, which: str, now: float, by: str) -> dict:
        """Revoke one of the user's tokens, named by its id or by its prefix."""
        row = self._existing(username)
        if which.isdigit():
            found = self._tokens("t.user_id = ? AND t.id = ?", [row["id"], int(which)])
        elif len(which) > TOKEN_PREFIX_LEN:  # the whole token
            found = self._tokens("t.user_id = ? AND t.token_hash = ?",
                                 [row["id"], _token_hash(which)])
        elif len(which) >= 8:
            found = self._tokens("t.user_id = ? AND t.prefix != '' AND "
                                 "substr(t.prefix, 1, ?) = ?", [row["id"], len(which), which])
        else:
            raise AuthError("name a token by its id, its prefix (8 characters or more) or "
                            "the whole token")
        if not found:
            raise AuthError(f"user {username!r} has no token {which!r}")
        if len(found) > 1:
            raise AuthError(f"{which!r} matches {len(found)} tokens; give its id")
        (tok,) = found
        if tok["revoked_at"] is not None:
            raise AuthError(f"token {tok['id']} is already revoked")
        with self.db.conn:
            self.db.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ?",
                            [now, tok["id"]])
            self._audit(now, by, "token_revoke", username,
                        {"token": tok["id"], "prefix": tok["prefix"], "name": tok["name"]})
        return {**tok, "revoked_at": now}

    def _tokens(self, where: str, params: list) -> list[dict]:
        return list(self.db.query(
            "SELECT t.id, t.user_id, t.name, t.prefix, t.created_at, t.expires_at, "
            f"t.revoked_at FROM api_tokens t WHERE {where} ORDER BY t.id", params))
