"""Broker accounts and the ACL that locks mosquitto down to one account per site.

A site's account is ``<project>/<site>`` ('/' never appears in an id, so the name is
unambiguous). It may publish only on its own status, heartbeat and event topics and read
its own heartbeat echo and the clock topic; the collector's account reads everything under
``parkwatch/v1/`` and is the only one that may publish the clock topic. Passwords are
stored as mosquitto's ``$7$`` hashes (PBKDF2-SHA512), so the registry never holds a
password a broker leak would reveal.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import pwd
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from parkwatch.core import wire

ITERATIONS = 101  # what mosquitto_passwd 2.0 writes; mosquitto reads the count from the hash


def site_username(project: str, site: str) -> str:
    return f"{wire.check_id(project, 'project')}/{wire.check_id(site, 'site')}"


def new_password() -> str:
    """A random password for a site or the collector (32 URL-safe characters)."""
    return secrets.token_urlsafe(24)


def hash_password(password: str, salt: bytes | None = None,
                  iterations: int = ITERATIONS) -> str:
    """The ``$7$`` line mosquitto's password file holds for ``password``."""
    salt = salt if salt is not None else os.urandom(12)
    dk = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, 64)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(dk).decode()}"


def verify_password(password: str, hashed: str) -> bool:
    try:
        _, alg, iterations, salt, dk = hashed.split("$")
        if alg != "7":
            return False
        want = base64.b64decode(dk)
        got = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt),
                                  int(iterations), len(want))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(want, got)


@dataclass(frozen=True)
class Account:
    username: str
    password_hash: str
    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()


def site_account(project: str, site: str, password_hash: str) -> Account:
    def t(channel):
        return wire.topic(project, site, channel)

    return Account(site_username(project, site), password_hash,
                   read=(t(wire.HEARTBEAT), wire.CLOCK_TOPIC),
                   write=(t(wire.STATUS), t(wire.HEARTBEAT), t(wire.EVENT)))


def collector_account(username: str, password_hash: str) -> Account:
    return Account(username, password_hash, read=(f"{wire.TOPIC_ROOT}/#",),
                   write=(wire.CLOCK_TOPIC,))


def _check_name(username: str) -> str:
    if not username or any(c in username for c in ":\n\r") or username != username.strip():
        raise ValueError(f"broker user name {username!r} may not be empty or hold ':' or "
                         "line breaks")
    return username


def password_file(accounts: Iterable[Account]) -> str:
    return "".join(f"{_check_name(a.username)}:{a.password_hash}\n" for a in accounts)


def acl_file(accounts: Iterable[Account]) -> str:
    """mosquitto's ACL: nothing is allowed that a line here does not grant."""
    out = ["# written by parkwatch from the fleet registry; do not edit by hand\n"]
    for a in accounts:
        out.append(f"\nuser {_check_name(a.username)}\n")
        out += [f"topic read {t}\n" for t in a.read]
        out += [f"topic write {t}\n" for t in a.write]
    return "".join(out)


def write_private(path: Path, text: str, owner: str | None = "mosquitto") -> None:
    """Write a file only its owner may read (password files, keys), atomically.

    mosquitto started as root drops to its own user before it reads its files, so when we
    are root the file is handed to that user (root reads it all the same).
    """
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    if owner and os.geteuid() == 0:
        try:
            pw = pwd.getpwnam(owner)
        except KeyError:
            pass
        else:
            os.chown(tmp, pw.pw_uid, pw.pw_gid)
    os.replace(tmp, path)
