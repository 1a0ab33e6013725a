"""Reading TOML config files with errors a person can act on.

Every config problem becomes one ``ConfigError`` whose text names the file, the key and
what is wrong; the CLI prints that line and exits 2. Unknown keys are errors too: a typo
in ``poll_interval_s`` must not silently leave the default in force.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_MISSING = object()

# Config files are a few kilobytes; anything near this is a mistake (a log or a disk image
# given as the config) or an attempt to exhaust the gateway's memory while parsing.
MAX_CONFIG_BYTES = 1_000_000


class UserError(Exception):
    """A mistake of the user's on the command line: printed as one line, exit 2."""


class ConfigError(Exception):
    def __init__(self, file: str | Path, key: str, problem: str):
        self.file, self.key, self.problem = str(file), key, problem
        where = f"key '{key}'" if key else "file"
        super().__init__(f"{file}: {where}: {problem}")


def read_capped(path: str | Path, max_bytes: int) -> bytes:
    """A file's bytes, refusing one longer than ``max_bytes`` before reading it all.

    Reads at most ``max_bytes + 1`` bytes, so a file that grows, a FIFO or /dev/zero is
    refused as well as a large regular file. Raises ``ConfigError`` naming the file.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise ConfigError(path, "", "no such file") from None
    except OSError as e:
        raise ConfigError(path, "", f"cannot be read ({e})") from None
    if len(data) > max_bytes:
        raise ConfigError(path, "", f"is larger than the limit of {max_bytes} bytes")
    return data


def load_toml(path: str | Path, max_bytes: int = MAX_CONFIG_BYTES) -> Section:
    path = Path(path)
    try:
        text = read_capped(path, max_bytes).decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(path, "", f"cannot be read ({e})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(path, "", f"is not valid TOML ({e})") from None
    return Section(data, path, "")


class Section:
    """One table of a config file; each getter records the key as known."""

    def __init__(self, data: dict, file: Path, prefix: str):
        self.data, self.file, self.prefix = data, file, prefix
        self._seen: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(self.file, self._key(key), problem)

    def _raw(self, key: str, default: Any) -> Any:
        self._seen.add(key)
        if key in self.data:
            return self.data[key]
        if default is _MISSING:
            raise self.error(key, "is missing")
        return default

    def str(self, key: str, default: Any = _MISSING) -> str:
        value = self._raw(key, default)
        if value is not default and not isinstance(value, str):
            raise self.error(key, f"must be a string, got {value!r}")
        return value

    def number(self, key: str, default: Any = _MISSING, *, minimum: float | None = None,
               positive: bool = False) -> float:
        value = self._raw(key, default)
        if value is default:
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(key, f"must be a number, got {value!r}")
        if positive and value <= 0:
            raise self.error(key, f"must be greater than 0, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.error(key, f"must be at least {minimum}, got {value!r}")
        return value

    def int(self, key: str, default: Any = _MISSING, *, minimum: int | None = None) -> int:
        value = self._raw(key, default)
        if value is default:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"must be an integer, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.error(key, f"must be at least {minimum}, got {value!r}")
        return value

    def bool(self, key: str, default: Any = _MISSING) -> bool:
        value = self._raw(key, default)
        if value is not default and not isinstance(value, bool):
            raise self.error(key, f"must be true or false, got {value!r}")
        return value

    def choice(self, key: str, allowed: tuple[str, ...], default: Any = _MISSING) -> str:
        value = self.str(key, default)
        if value is not default and value not in allowed:
            raise self.error(key, f"must be one of {', '.join(allowed)}; got {value!r}")
        return value

    def table(self, key: str, *, optional: bool = False) -> Section:
        value = self._raw(key, {} if optional else _MISSING)
        if not isinstance(value, dict):
            raise self.error(key, "must be a table")
        return Section(value, self.file, self._key(key) + ".")

    def tables(self, key: str, *, optional: bool = False) -> list[Section]:
        """An array of tables, ``[[key]]`` in TOML."""
        value = self._raw(key, [] if optional else _MISSING)
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.error(key, "must be an array of tables ([[" + key + "]])")
        return [Section(v, self.file, f"{self._key(key)}[{i}].") for i, v in enumerate(value)]

    def strs(self, key: str, default: Any = _MISSING) -> list[str]:
        value = self._raw(key, default)
        if value is default:
            return value
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(key, "must be a list of strings")
        return value

    def done(self) -> None:
        """Call after reading every key: anything left over is a typo or a stale key."""
        unknown = sorted(set(self.data) - self._seen)
        if unknown:
            raise self.error(unknown[0], "is not a known setting")


def package_version() -> str:
    """The installed parkwatch's version (pyproject.toml), for --version and the API."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("parkwatch")
    except PackageNotFoundError:  # a source tree that was never installed
        return "unknown"
