"""Password hashing for console users: scrypt (stdlib), a per-user salt.

``dummy_hash`` gives a hash to check an unknown user's password against, so that a login
for a name that does not exist costs the same scrypt work as one for a name that does.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

PASSWORD_MIN, PASSWORD_MAX = 8, 1024


class AuthError(Exception):
    """Bad credentials or input; the text is safe to show."""


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    """The one place a password is hashed (tests count the calls)."""
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=dklen)


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = _scrypt(password, salt, 2**14, 8, 1, 32)
    return f"scrypt$16384$8$1${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = _scrypt(password, bytes.fromhex(salt), int(n), int(r), int(p), len(digest) // 2)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


_dummy: list[str] = []


def dummy_hash() -> str:
    """A hash to check an unknown user's password against, so that an unknown name costs
    the same scrypt work as a known one (no timing oracle for usernames)."""
    if not _dummy:
        _dummy.append(hash_password(secrets.token_urlsafe(16)))
    return _dummy[0]


def check_password(password: str) -> str:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise AuthError(f"password must be {PASSWORD_MIN}-{PASSWORD_MAX} characters")
    return password
