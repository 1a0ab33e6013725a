"""docs/scale.md's "Three collectors, three nodes, PostgreSQL", run as written: its
commands and configs in order, with /etc/parkwatch under a temporary folder, the fixed
ports swapped for held free ones (each collector's API gets port 0, read from its log) and
the database on a private PostgreSQL server (``createdb`` makes it there). Ends with the
twelve partitions split four, four and four and the agent of the section before online at
the collector holding its partition."""

from __future__ import annotations

import re
import shlex
import subprocess

import httpx

from collector.fleet.cluster_cli import BASE_PORTS
from collector.fleet.partitions import partition_of
from simulators.nats import healthy, nats_server
from simulators.ports import HeldPort, port_in_log
from tests.cluster.test_scale_doc import DOC, FENCE, stop_all
from tests.cluster.test_scale_doc import section_blocks as unpartitioned_blocks
from tests.helpers import wait_for

DOC_URL = "postgresql://postgres@127.0.0.1:5432/parkwatch"
API_PORTS = (8081, 8082, 8083)


def blocks() -> list[tuple[str, str]]:
    part = DOC.read_text().split("## Three collectors, three nodes, PostgreSQL", 1)[1]
    part = part.split("\n## ", 1)[0]
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(part)]


def test_three_collectors_on_three_nodes_run_as_written(tmp_path, parkwatch_exe, pg_server):
    bases = {name: base for name, (base, _) in BASE_PORTS.items()}
    held = {base + i: HeldPort() for base in bases.values() for i in range(3)}
    named = "|".join(str(bases[n] + i) for n in ("mqtt", "http") for i in range(3))
    root = tmp_path / "root"
    url = pg_server.url("parkwatch")

    def sub(text: str) -> str:
        text = text.replace("/etc/parkwatch", str(root / "etc")).replace(DOC_URL, url)
        return re.sub(rf"127\.0\.0\.1:({named})\b",
                      lambda m: f"127.0.0.1:{held[int(m.group(1))].port}", text)

    (root / "etc").mkdir(parents=True)
    found = blocks()
    assert [lang for lang, _ in found] == ["", "sh", "toml", "toml", "toml", "sh"]
    printed = ""
    procs: list[subprocess.Popen] = []
    apis: dict[int, httpx.Client] = {}
    try:
        for line in found[1][1].splitlines():
            words = shlex.split(sub(line))
            if words[0] == "createdb":
                pg_server.create_database(words[-1])
                continue
            if words[1:3] == ["cluster", "config"]:
                for name, base in bases.items():
                    words += [f"--{name}-port",
                              ",".join(str(held[base + i].port) for i in range(3))]
            done = subprocess.run([parkwatch_exe, *words[1:]], capture_output=True,
                                  text=True, timeout=60)
            assert done.returncode == 0, done.stderr
            printed += done.stdout
        password = re.search(r'password = "([^"]+)"', printed).group(1)
        for i, (_, text) in enumerate(found[2:5]):
            assert f"port = {API_PORTS[i]}" in text
            (root / "etc" / f"collector-{i + 1}.toml").write_text(sub(text).replace(
                f"port = {API_PORTS[i]}", "port = 0\nanonymous_read = true"))
        for line in found[5][1].splitlines():
            words = shlex.split(sub(line).rstrip(" &"))
            if words[0] == "nats-server":
                procs.append(subprocess.Popen([nats_server(), *words[1:]],
                                              stdout=subprocess.DEVNULL,
                                              stderr=open(tmp_path / f"n{len(procs)}.log", "ab")))
            elif words[0] == "curl" and ":808" in line:
                wait_for(lambda c1=apis[API_PORTS[0]]: c1.get("/healthz").json().get(
                    "partitions"), 60,
                         what="collector-1 holding partitions")
            elif words[0] == "curl":
                port = int(re.search(r":(\d+)/healthz", words[-1]).group(1))
                wait_for(lambda p=port: healthy(p), 30, what=f"{words[-1]} ok")
            else:
                assert words[:3] == ["parkwatch", "collector", "run"], words
                n = int(re.search(r"collector-(\d)\.toml", words[-1]).group(1))
                log = tmp_path / f"c{n}.log"
                procs.append(subprocess.Popen([parkwatch_exe, *words[1:]],
                                              stdout=subprocess.DEVNULL, stderr=open(log, "ab")))
                apis[API_PORTS[n - 1]] = httpx.Client(
                    timeout=5, base_url=f"http://127.0.0.1:{port_in_log(log, procs[-1])}")

        def held_by() -> dict[int, list[int]]:
            return {p: apis[p].get("/healthz").json().get("partitions") or [] for p in apis}

        wait_for(lambda: sorted(len(v) for v in held_by().values()) == [4, 4, 4] and
                 sorted(x for v in held_by().values() for x in v) == list(range(12)),
                 60, what="the twelve partitions split four, four and four")
        agent = [text for lang, text in unpartitioned_blocks() if lang == "toml"][-1]
        agent_toml = root / "etc" / "agent.toml"
        agent_toml.write_text("heartbeat_interval_s = 0.5\n" + sub(agent).replace(
            "/var/lib/parkwatch", str(root / "var")).replace("the password site add printed",
                                                              password))
        procs.append(subprocess.Popen([parkwatch_exe, "agent", "run", "--config",
                                       str(agent_toml)], stdout=subprocess.DEVNULL,
                                      stderr=open(tmp_path / "agent.log", "ab")))
        mine = partition_of("p1", "lot-1", 12)
        holder = next(apis[p] for p, v in held_by().items() if mine in v)
        wait_for(lambda: [s for s in holder.get("/api/sites").json()
                          if s["site"] == "lot-1" and s["state"] == "online"], 30,
                 what="lot-1 online at the collector holding its partition")
    finally:
        stop_all(procs, held, wait_s=15)
