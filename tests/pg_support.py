"""PostgreSQL for the tests: one private server a session, one fresh database a test.

Registered in tests/conftest.py with ``"tests.pg_support"`` in its ``pytest_plugins`` (or the
line ``from tests.pg_support import pg_database, pg_server  # noqa: F401`` with its imports).
The server is ``simulators.postgres.PostgresServer`` (a unix socket in a folder of its own,
no TCP port); each test's database is ``CREATE DATABASE ... TEMPLATE template0`` through
``createdb`` (13 ms, median of 20, in /dev/shm), dropped after the test with any session still
open on it.
"""

from __future__ import annotations

import pytest

from simulators.postgres import PostgresMissing, PostgresServer, drop_fresh, fresh_database


@pytest.fixture(scope="session")
def pg_server():
    """One PostgreSQL server for the whole session, stopped and removed at its end. Tests
    that stop or kill a server make their own ``PostgresServer``."""
    try:
        server = PostgresServer()
    except PostgresMissing as e:
        pytest.fail(f"{e}; .ci/run installs it", pytrace=False)
    with server:
        yield server


@pytest.fixture
def pg_database(pg_server):
    """The URL of an empty database of this test's own (psycopg 3 / libpq form)."""
    url = fresh_database(pg_server)
    yield url
    if pg_server.alive():
        drop_fresh(pg_server, url)


@pytest.fixture
def pg_databases(pg_server):
    """``make(name)``: the test's database of that name (``new_database`` under
    ``--backend postgresql``): empty when first named, the same one when named again, as a
    file name in the test's folder would be; each dropped after the test."""
    made: dict[str, str] = {}

    def make(name: str = "collector") -> str:
        if name not in made:
            made[name] = fresh_database(pg_server)
        return made[name]

    yield make
    if pg_server.alive():
        for url in made.values():
            drop_fresh(pg_server, url)


@pytest.fixture(scope="session")
def pg_session_database(pg_server):
    """One database for a session-long rig (the fault suite's site)."""
    url = fresh_database(pg_server)
    yield url
    if pg_server.alive():
        drop_fresh(pg_server, url)
