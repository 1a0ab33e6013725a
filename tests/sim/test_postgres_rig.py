"""The PostgreSQL test rig (simulators/postgres.py, tests/pg_support.py) against a real
server: psycopg connects through its URL, fresh databases are apart, a SIGKILL loses no
committed row, and missing binaries say so."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from simulators.postgres import (
    MISSING,
    PostgresMissing,
    PostgresServer,
    _group,
    drop_fresh,
    fresh_database,
)
from tests.helpers import wait_for


def one(url: str, query: str, params=()):
    with psycopg.connect(url, connect_timeout=5) as conn:
        return conn.execute(query, params).fetchone()


def test_connects_over_its_own_unix_socket_only(pg_server):
    url = pg_server.url()
    assert url == f"postgresql://postgres@/postgres?host={pg_server.workdir}"
    assert conninfo_to_dict(url)["host"] == str(pg_server.workdir)
    user, port_setting, addresses, fsync = one(
        url, "SELECT current_user, current_setting('port'), "
             "current_setting('listen_addresses'), current_setting('fsync')")
    assert (user, addresses, fsync) == ("postgres", "", "off")
    assert pg_server.socket.exists() and port_setting == "5432"  # a socket name, no TCP
    assert one(url, "SELECT inet_server_addr()") == (None,)  # a unix-socket session
    assert pg_server.pid and os.path.exists(f"/proc/{pg_server.pid}")


def test_server_runs_as_postgres_when_root(pg_server):
    """initdb refuses root: run as root, the server is the postgres system user's."""
    owner = os.stat(f"/proc/{pg_server.pid}").st_uid
    if os.geteuid() == 0:
        import pwd

        assert owner == pwd.getpwnam("postgres").pw_uid
    else:
        assert owner == os.geteuid()


def test_fresh_databases_are_apart(pg_server, pg_database):
    other = fresh_database(pg_server)
    try:
        assert other != pg_database
        with psycopg.connect(pg_database) as conn:
            conn.execute("CREATE TABLE mine (x int)")
            conn.execute("INSERT INTO mine VALUES (1)")
        assert one(pg_database, "SELECT count(*) FROM mine") == (1,)
        assert one(other, "SELECT to_regclass('mine')") == (None,)
        assert one(other, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == (0,)
        names = {one(u, "SELECT current_database()")[0] for u in (pg_database, other)}
        assert len(names) == 2
    finally:
        drop_fresh(pg_server, other)
    with pytest.raises(psycopg.OperationalError, match="does not exist"):
        psycopg.connect(other, connect_timeout=5)


def test_drop_ends_sessions_still_open(pg_server):
    url = fresh_database(pg_server)
    leftover = psycopg.connect(url)  # a test that forgot its pool
    drop_fresh(pg_server, url)
    with pytest.raises(psycopg.OperationalError):
        leftover.execute("SELECT 1")
    leftover.close()


def test_kill_then_start_keeps_committed_rows():
    with PostgresServer() as server:
        url = server.create_database("kept")
        conn = psycopg.connect(url, autocommit=True)
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("INSERT INTO t SELECT generate_series(1, 1000)")
        old_pid = server.pid
        server.kill()
        assert server.pid is None and _group(old_pid) == []  # the backends went with it
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
        conn.close()
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(url, connect_timeout=2)
        server.start()
        assert server.pid != old_pid
        assert one(url, "SELECT count(*), sum(x) FROM t") == (1000, 500500)
        server.stop()
        assert wait_for(lambda: not server.socket.exists(), 10, what="socket removed")
        server.start()  # a clean stop and start again: the same data
        assert one(url, "SELECT count(*) FROM t") == (1000,)
    assert not server.workdir.exists()  # a folder made by the server goes with it


def test_url_survives_a_folder_with_a_space():
    workdir = tempfile.mkdtemp(prefix="pw pg ")  # not tmp_path: root's is closed to postgres
    try:
        with PostgresServer(workdir=workdir) as server:
            assert "%20" in server.url("x y")
            url = server.create_database("x y")
            assert one(url, "SELECT current_database()") == ("x y",)
            server.drop_database("x y")
        assert (Path(workdir) / "data" / "PG_VERSION").exists()  # a given folder is kept
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def test_missing_binaries_say_so(tmp_path, monkeypatch):
    empty = tmp_path / "bin"
    empty.mkdir()
    with pytest.raises(PostgresMissing) as e:
        PostgresServer(bindir=empty)
    assert str(e.value).startswith(MISSING) and str(empty) in str(e.value)
    assert "apt-get install postgresql" in MISSING
    monkeypatch.setenv("PARKWATCH_PG_BINDIR", str(empty))
    with pytest.raises(PostgresMissing):
        PostgresServer()
    assert list(tmp_path.iterdir()) == [empty]  # nothing made before the error
