"""The embedded broker (amqtt) held to the same accounts and topic rules as mosquitto.

amqtt's own ``FileAuthPlugin`` takes only argon2/bcrypt/``$6$`` hashes and its topic ACL
plugin has no read rules of mosquitto's kind, so these two plugins read the very files
``collector.fleet.brokerconf`` writes for mosquitto: the ``$7$`` password file and the ACL
(``user NAME`` then ``topic read|write FILTER`` lines; nothing is allowed that is not
granted). Both files are read again when they change, as mosquitto does on SIGHUP.

- no username, an unknown one or a wrong password: the connection is refused;
- a Will on a topic the account may not write: the connection is refused (mosquitto
  refuses it too; amqtt itself would publish any Will unchecked);
- publishing where the account may not write: dropped; subscribing to a filter that no
  read rule covers: refused (0x80); a message on a topic it may not read: not delivered.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from paho.mqtt.client import topic_matches_sub

from collector.fleet.brokerconf import verify_password


class _Files:
    """Passwords and ACL from mosquitto's files, re-read when either one changes."""

    def __init__(self, password_file: str, acl_file: str):
        self.paths = (Path(password_file), Path(acl_file))
        self._stamp: tuple = ()
        self.hashes: dict[str, str] = {}
        self.read: dict[str, list[str]] = {}
        self.write: dict[str, list[str]] = {}

    def fresh(self) -> _Files:
        stamp = tuple(os.stat(p).st_mtime_ns for p in self.paths)
        if stamp != self._stamp:
            self._load()
            self._stamp = stamp
        return self

    def _load(self) -> None:
        passwd, acl = (p.read_text(encoding="utf-8") for p in self.paths)
        self.hashes = dict(line.split(":", 1) for line in passwd.splitlines() if ":" in line)
        self.read, self.write = {}, {}
        user = None
        for line in acl.splitlines():
            words = line.split()
            if len(words) == 2 and words[0] == "user":
                user = words[1]
            elif len(words) == 3 and words[0] == "topic" and user is not None:
                rules = self.read if words[1] == "read" else self.write
                if words[1] in ("read", "write"):
                    rules.setdefault(user, []).append(words[2])

    def may_write(self, user: str | None, topic: str) -> bool:
        return any(topic_matches_sub(f, topic) for f in self.write.get(user or "", ()))

    def may_read(self, user: str | None, topic: str) -> bool:
        return any(topic_matches_sub(f, topic) for f in self.read.get(user or "", ()))

    def may_subscribe(self, user: str | None, sub: str) -> bool:
        # A filter is granted only when every topic it matches is one a rule lets through.
        return any(covers(f, sub) for f in self.read.get(user or "", ()))


def covers(rule: str, sub: str) -> bool:
    """Whether every topic the filter ``sub`` matches also matches the filter ``rule``."""
    r, f = rule.split("/"), sub.split("/")
    for i, level in enumerate(r):
        if level == "#":
            return True
        if i >= len(f) or f[i] == "#":
            return False
        if level != "+" and level != f[i]:  # a literal covers only itself, never "+"
            return False
    return len(f) == len(r)


_FILES: dict[tuple[str, str], _Files] = {}


def _files(password_file: str, acl_file: str) -> _Files:
    key = (password_file, acl_file)
    if key not in _FILES:
        _FILES[key] = _Files(password_file, acl_file)
    return _FILES[key].fresh()


@dataclass
class FilesConfig:
    password_file: str = ""
    acl_file: str = ""


class PasswordFileAuth(BaseAuthPlugin):
    Config = FilesConfig

    async def authenticate(self, *, session) -> bool:
        files = _files(self.config.password_file, self.config.acl_file)
        hashed = files.hashes.get(session.username or "")
        if hashed is None or not verify_password(session.password or "", hashed):
            self.context.logger.info("refused %r: unknown account or wrong password",
                                     session.username)
            return False
        if session.will_flag and not files.may_write(session.username, session.will_topic):
            self.context.logger.info("refused %r: a Will on %r it may not write",
                                     session.username, session.will_topic)
            return False
        return True


class TopicAcl(BaseTopicPlugin):
    Config = FilesConfig

    async def topic_filtering(self, *, session=None, topic=None, action=None) -> bool:
        if session is None or topic is None:
            return False
        files = _files(self.config.password_file, self.config.acl_file)
        user = session.username
        if action == Action.PUBLISH:
            return files.may_write(user, topic)
        if action == Action.SUBSCRIBE:
            return files.may_subscribe(user, topic)
        return files.may_read(user, topic)


PLUGINS = {f"{__name__}.PasswordFileAuth": None, f"{__name__}.TopicAcl": None}


def plugins(password_file: Path, acl_file: Path) -> dict:
    """The ``plugins`` section of an amqtt broker config using these two plugins."""
    cfg = {"password_file": str(password_file), "acl_file": str(acl_file)}
    return {name: dict(cfg) for name in PLUGINS}
