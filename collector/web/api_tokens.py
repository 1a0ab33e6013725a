"""API tokens: issued with an expiry, stored as SHA-256 hashes with a short prefix (to
name one in a listing and revoke it), refused once expired or revoked or when the user is
disabled. Part of ``collector.web.auth.Users`` (a mixin over its store and audit helpers;
the table and its queries: ``collector.web.store_users``).
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
    """Needs ``store`` (a ``UserStore``), ``_existing(username)``, ``_audit(...)`` and
    ``_user(row)``."""

    def by_api_token(self, token: str, now: float) -> User | None:
        """The token's user, if the token exists, is not revoked or expired, and its user
        is not disabled."""
        row = self.store.token_user(_token_hash(token), now)
        return self._user(row) if row else None

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
        with self.store.transaction():
            tid = self.store.add_token(_token_hash(token), row["id"], name, prefix, now,
                                       now + days * 86400)
            self._audit(now, by, "token_issue", username,
                        {"token": tid, "prefix": prefix, "name": name, "days": days})
        return token

    def revoke_api_token(self, username: str, which: str, now: float, by: str) -> dict:
        """Revoke one of the user's tokens, named by its id or by its prefix."""
        row = self._existing(username)
        if which.isascii() and which.isdigit():  # "²" is a digit to str.isdigit, not to int
            # an id past SQLite's integer range names no token (and would overflow the query)
            found = self.store.token_by_id(row["id"], int(which)) if len(which) <= 18 else []
        elif len(which) > TOKEN_PREFIX_LEN:  # the whole token
            found = self.store.token_by_hash(row["id"], _token_hash(which))
        elif len(which) >= 8:
            found = self.store.tokens_by_prefix(row["id"], which)
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
        with self.store.transaction():
            self.store.revoke_token(tok["id"], now)
            self._audit(now, by, "token_revoke", username,
                        {"token": tok["id"], "prefix": tok["prefix"], "name": tok["name"]})
        return {**tok, "revoked_at": now}

