"""The API keeps its OpenAPI contract under a fuzzer.

A real collector (mosquitto, SQLite, uvicorn on a free port) over a seeded database; the
schemathesis CLI reads its /openapi.json and runs every check it has against every operation,
as the admin, as a seat agent and with no token. Any 5xx, response outside its documented
schema, undocumented status, wrong 405/Allow or ignored authentication fails the test.

Bounded: ``PARKWATCH_FUZZ_EXAMPLES`` examples per operation (default 10) and a fixed seed,
so a run is repeatable (about 1.5 minutes for the three callers).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from simulators.broker import Mosquitto
from tests.contract_support import collector_for_contract

EXAMPLES = int(os.environ.get("PARKWATCH_FUZZ_EXAMPLES", "10"))
SEED = os.environ.get("PARKWATCH_FUZZ_SEED", "1")
ST = Path(sys.executable).parent / "st"

# Schema-valid data the API may still refuse with 422: rules JSON Schema cannot say
# (opened_at within a year of now, a maintenance window's 'to' after its 'from', data_base64
# that decodes, a reason of at least three letters, kinds and groups from the routing table).
# That is schemathesis' default list plus 422; a 5xx still fails, as a server error.
# Schema-violating data may also be refused with 413: a string far past its maxLength can
# make a body over the cap (collector/web/console/bodylimit.py), refused before anything
# reads it, and the fuzzer does make such bodies now and then (a megabyte 'report' to
# /verify). That list is schemathesis' default plus 413. Every other check runs with its
# defaults.
CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]

[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422",
                     "428", "429", "5xx"]
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    if not Mosquitto.available():
        pytest.fail("mosquitto is not installed; .ci/run installs it (apt-get install mosquitto)")
    if not ST.exists():
        pytest.fail(f"{ST} is missing: install the dev extra (pip install -e .[dev])")
    tmp = tmp_path_factory.mktemp("contract")
    broker = Mosquitto(workdir=tmp / "mosquitto").start()
    try:
        with collector_for_contract(tmp, broker) as s:
            (tmp / "schemathesis.toml").write_text(CONFIG)
            s.workdir = tmp
            yield s
    finally:
        broker.stop()


@pytest.mark.parametrize("caller", ["admin", "seat", "none"])
def test_every_operation_keeps_its_contract(served, caller):
    headers = [] if caller == "none" else ["-H", f"Authorization: {served.tokens[caller]}"]
    run = subprocess.run(
        [str(ST), "--config-file", str(served.workdir / "schemathesis.toml"), "--no-color",
         "run", f"{served.url}/openapi.json", "--checks", "all",
         "--max-examples", str(EXAMPLES), "--seed", SEED, "--request-timeout", "20",
         "--workers", "1", *headers],
        capture_output=True, text=True, timeout=600, cwd=served.workdir)
    out = run.stdout + run.stderr
    assert run.returncode == 0, f"schemathesis as {caller} found failures:\n{failures(out)}"
    generated = re.search(r"(\d+) generated, (\d+) passed", out)
    assert generated and int(generated[1]) > 100, out[-3000:]


def failures(out: str, width: int = 400) -> str:
    """Schemathesis' FAILURES section (or the tail when there is none), each line cut to
    ``width``: a reproducing curl can carry a megabyte of body, which would push the failing
    operation's name out of a truncated report."""
    start = out.find("= FAILURES =")
    end = out.find("= WARNINGS =", start) if start >= 0 else -1
    end = len(out) if end < 0 else end
    part = out[out.rfind("\n", 0, start) + 1:end] if start >= 0 else out[-6000:]
    lines = [line if len(line) <= width else line[:width] + " ...(cut)"
             for line in part.splitlines()]
    return "\n".join(lines[:400])


def test_the_document_follows_anonymous_read(tmp_path):
    """Reads list "no credentials" as an alternative, and no 401, when the config waives them;
    writes keep both."""
    from collector.config import CollectorConfig
    from collector.ingest import Ingest
    from collector.web.api import create_app
    from parkwatch.core.broker import Broker

    for anonymous in (False, True):
        cfg = CollectorConfig(broker=Broker("127.0.0.1", 9), database=tmp_path / "c.db",
                              api_port=0, anonymous_read=anonymous)
        paths = create_app(Ingest(cfg)).openapi()["paths"]
        sites, create = paths["/api/sites"]["get"], paths["/api/workflow/incidents"]["post"]
        assert ({} in sites["security"], "401" in sites["responses"]) == (anonymous,
                                                                          not anonymous)
        assert {} not in create["security"] and "401" in create["responses"]
