"""A throwaway PostgreSQL server for tests and benches, on a unix socket of its own.

``PostgresServer`` runs ``initdb`` into a fresh folder and starts ``postgres`` as a child
process listening only on a unix socket in that folder (``listen_addresses=''``): no TCP
port at all, so nothing to hold and no port race, and Debian's own cluster on 5432 (its
socket is in /var/run/postgresql) is neither used nor disturbed.

Tuned for tests, not for keeping data through a machine crash: fsync and full_page_writes
are off. A ``kill()`` (SIGKILL) and ``start()`` again on the same data folder still brings
back every committed row: each commit writes its WAL to the kernel, only never flushes it.
synchronous_commit stays on for that: off, the last commits wait in the server's shared
memory and a kill loses them (1000 of 1000 rows in a test), and with fsync off it buys
nothing (27,100 against 27,000 single-row commits a second).

Databases are made and dropped with PostgreSQL's own ``createdb``/``dropdb`` (the SQL of the
product lives in collector/db/, tests/docs/test_sql_home.py): ``fresh_database`` gives a
test its own empty database, copied from ``template0`` or from a template the caller
prepared once (a migrated schema, say).

initdb refuses to run as root: run as root (CI), the server's processes run as the
``postgres`` system user, and the folder is that user's. Otherwise they run as the caller.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse
import uuid
from pathlib import Path

START_S = 30.0  # how long the server may take to take connections
STOP_S = 30.0
TOOLS = ("initdb", "postgres", "createdb", "dropdb")
SUPERUSER = "postgres"  # the cluster's superuser (initdb -U), whoever runs the processes
MISSING = "PostgreSQL server binaries not found (apt-get install postgresql)"
SETTINGS = {
    "listen_addresses": "''",
    "fsync": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "32MB",
    "log_min_messages": "warning",
    "log_line_prefix": "'%m [%p] '",
}
_names = itertools.count(1)


class PostgresMissing(RuntimeError):
    """The server binaries (initdb, postgres) are not installed."""


def _has_tools(bindir: Path) -> bool:
    return all(os.access(bindir / t, os.X_OK) for t in TOOLS)


def find_bindir(bindir: str | Path | None = None) -> Path:
    """The folder of initdb and postgres: ``bindir`` if given (it alone), else
    ``$PARKWATCH_PG_BINDIR``, ``pg_config --bindir``, Debian's /usr/lib/postgresql/<ver>/bin
    (newest first), then initdb on PATH."""
    if bindir is None:
        bindir = os.environ.get("PARKWATCH_PG_BINDIR") or None
    if bindir is not None:
        if _has_tools(Path(bindir)):
            return Path(bindir)
        raise PostgresMissing(f"{MISSING}: none in {bindir}")
    candidates: list[Path] = []
    if pg_config := shutil.which("pg_config"):
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,
                                 timeout=10)
            candidates.append(Path(out.stdout.strip()))
        except (OSError, subprocess.SubprocessError):
            pass
    debian = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += [Path(p) for p in sorted(debian, key=_version, reverse=True)]
    if initdb := shutil.which("initdb"):
        candidates.append(Path(os.path.realpath(initdb)).parent)
    for candidate in candidates:
        if _has_tools(candidate):
            return candidate
    raise PostgresMissing(MISSING)


def _base() -> str | None:
    """Where a server's folder goes by default: /dev/shm when it is roomy (a tmpfs: on this
    project's CI machine a CREATE DATABASE takes 14 ms there and ~110 ms on the disk's /tmp,
    and a start 0.43 s against 0.70 s), else the usual temporary folder (a container's
    /dev/shm is often 64 MiB)."""
    shm = Path("/dev/shm")
    roomy = shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free >= 1 << 30
    return str(shm) if roomy else None


def _version(path: str) -> tuple:  # /usr/lib/postgresql/15/bin -> (15,)
    return tuple(int(p) if p.isdigit() else 0 for p in Path(path).parent.name.split("."))


class PostgresServer:
    """A private PostgreSQL cluster in ``workdir`` (made here by default), started as a child
    process. ``url(db)`` is a libpq URL for psycopg 3; ``stop()`` is a fast shutdown,
    ``kill()`` a SIGKILL of the server, ``start()`` starts it again on the same data;
    ``close()`` stops it and removes a folder made here. Used as a context manager it is
    started on entry and closed on exit."""

    def __init__(self, workdir: str | Path | None = None, bindir: str | Path | None = None,
                 settings: dict[str, str] | None = None):
        self.bindir = find_bindir(bindir)  # before any folder is made: a clear error first
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="pw-pg-", dir=_base())).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        if len(str(self.workdir)) + len("/.s.PGSQL.5432") > 107:  # sockaddr_un's sun_path
            raise ValueError(f"{self.workdir} is too long for a unix socket path")
        self.data = self.workdir / "data"
        self.log = self.workdir / "postgres.log"
        self.settings = {**SETTINGS, **(settings or {})}
        self.proc: subprocess.Popen | None = None
        self._user = SUPERUSER if os.geteuid() == 0 else None  # run the processes as

    # --- processes -----------------------------------------------------------------------

    def _run_as(self) -> dict:
        entry = pwd.getpwnam(self._user) if self._user else None
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []} if entry else {}

    def _env(self) -> dict:  # no PG* of the caller's: the tools talk to this server only
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        home = pwd.getpwnam(self._user).pw_dir if self._user else env.get("HOME", "/")
        return {**env, "LC_ALL": "C", "HOME": home}

    def _tool(self, name: str, *args: str, timeout: float = 60.0, server: bool = False) -> str:
        """Run one of the binaries; ``server``: as the server's user (initdb)."""
        out = subprocess.run([str(self.bindir / name), *args], capture_output=True, text=True,
                             env=self._env(), timeout=timeout, cwd=self.workdir,
                             **(self._run_as() if server else {}))
        if out.returncode != 0:
            raise RuntimeError(f"{name} {' '.join(args)} failed ({out.returncode}): "
                               f"{(out.stderr or out.stdout).strip()[-1500:]}")
        return out.stdout

    def _initdb(self) -> None:
        os.chmod(self.workdir, 0o700)
        if run_as := self._run_as():  # root: the folder is the postgres user's
            os.chown(self.workdir, run_as["user"], run_as["group"])
        self._tool("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
                   "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions", server=True)
        lines = [f"{k} = {v}" for k, v in self.settings.items()]
        lines.append(f"unix_socket_directories = '{self.workdir}'")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write("\n# simulators/postgres.py\n" + "\n".join(lines) + "\n")

    def _status(self) -> str:
        """The state our postmaster wrote in postmaster.pid ("starting", "ready", ...); a
        file left by a killed one (its pid, "ready") is not ours."""
        try:
            lines = (self.data / "postmaster.pid").read_text().splitlines()
        except OSError:
            return ""
        ours = len(lines) >= 8 and lines[0].strip() == str(self.proc.pid)
        return lines[7].strip() if ours else ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while it runs."""
        return self.proc.pid if self.alive() else None

    def start(self, timeout: float = START_S) -> PostgresServer:
        """initdb on the first start; start the server; return once it takes connections."""
        if self.alive():
            return self
        if not (self.data / "PG_VERSION").exists():
            self._initdb()
        with open(self.log, "ab") as log:
            # its own process group: kill() reaches the backends too
            self.proc = subprocess.Popen([str(self.bindir / "postgres"), "-D", str(self.data)],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         env=self._env(), cwd=self.workdir,
                                         start_new_session=True, **self._run_as())
        deadline = time.monotonic() + timeout
        while not (self._status() == "ready" and self.socket.exists()):
            if not self.alive():
                raise RuntimeError(f"postgres exited ({self.proc.returncode}): "
                                   f"{self.log.read_text(errors='replace')[-1500:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"postgres not ready after {timeout}s (see {self.log})")
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = STOP_S) -> None:
        """Fast shutdown (SIGINT: open sessions are ended, nothing waits for clients)."""
        if not self.alive():
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the postmaster, as a crash would, and its backends with it (they would
        exit on their own, but only when they next look); returns once all are gone, so
        ``start()`` may follow at once (crash recovery replays the WAL)."""
        if self.proc is None:
            return
        pgid = self.proc.pid
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        deadline = time.monotonic() + 10
        while (left := _group(pgid)) and time.monotonic() < deadline:
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.02)

    def close(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # --- addresses and databases ---------------------------------------------------------

    @property
    def socket(self) -> Path:
        return self.workdir / ".s.PGSQL.5432"

    def url(self, dbname: str = "postgres") -> str:
        """``postgresql://postgres@/DBNAME?host=/SOCKET/DIR``: libpq (psycopg 3) reads a
        ``host`` that starts with / as the folder of the server's unix socket."""
        path = urllib.parse.quote(str(self.workdir), safe="/")
        return f"postgresql://{SUPERUSER}@/{urllib.parse.quote(dbname, safe='')}?host={path}"

    def _client_args(self) -> list[str]:
        return ["-h", str(self.workdir), "-U", SUPERUSER]

    @property
    def version(self) -> int:
        """The cluster's major version (15), from its data folder."""
        return int((self.data / "PG_VERSION").read_text().strip())

    def create_database(self, name: str, template: str = "template0",
                        strategy: str | None = "file_copy") -> str:
        """A new database copied from ``template`` (nobody may be connected to it); its URL.
        ``strategy`` (PostgreSQL 15+; before it, every copy is a file copy): "file_copy" copies
        the template's files (faster for a small one: 14 ms against 23 ms), "wal_log" writes
        them through the WAL, None is the server's default (wal_log)."""
        extra = ["--strategy", strategy] if strategy and self.version >= 15 else []
        self._tool("createdb", *self._client_args(), "-T", template, *extra, "--", name)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop it, ending any session still connected to it (a test's leftover pool)."""
        self._tool("dropdb", *self._client_args(), "--force", "--if-exists", "--", name)


def fresh_database(server: PostgresServer, template: str = "template0",
                   prefix: str = "t") -> str:
    """A new empty database of its own (a test's): its URL. ``drop_fresh`` removes it."""
    name = f"{prefix}_{os.getpid()}_{next(_names)}_{uuid.uuid4().hex[:6]}"
    return server.create_database(name, template=template)


def drop_fresh(server: PostgresServer, url: str) -> None:
    """Drop the database ``fresh_database`` made for ``url``."""
    name = urllib.parse.unquote(urllib.parse.urlsplit(url).path.lstrip("/"))
    server.drop_database(name)


def _group(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        state, _ppid, pgrp = stat[stat.rindex(")") + 2:].split()[:3]
        if state != "Z" and int(pgrp) == pgid:
            found.append(int(pid))
    return found
