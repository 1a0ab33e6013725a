"""docs/scale.md's "Running three nodes", run as written: its config blocks and commands in
order, with /etc/parkwatch and /var/lib/parkwatch moved under a temporary folder and the
fixed ports swapped for held free ones (the cluster config line gets the held ports as
flags; the collector's API gets port 0). Ends with the agent online at the collector."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import httpx

from collector.fleet.cluster_cli import BASE_PORTS
from simulators.nats import healthy, nats_server
from simulators.ports import HeldPort, port_in_log
from tests.helpers import wait_for

DOC = Path(__file__).resolve().parents[2] / "docs" / "scale.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def section_blocks() -> list[tuple[str, str]]:
    text = DOC.read_text()
    part = text.split("## Running three nodes", 1)[1].split("\n## ", 1)[0]
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(part)]


def test_the_walkthrough_runs_as_written(tmp_path, parkwatch_exe):
    # The walkthrough's default ports are never bound: each is swapped for a held one.
    bases = {name: base for name, (base, _) in BASE_PORTS.items()}
    held = {base + i: HeldPort() for base in bases.values() for i in range(3)}
    named = "|".join(str(bases[n] + i) for n in ("mqtt", "http") for i in range(3))
    root = tmp_path / "root"

    def sub(text: str) -> str:
        text = text.replace("/etc/parkwatch", str(root / "etc")).replace(
            "/var/lib/parkwatch", str(root / "var"))
        return re.sub(rf"127\.0\.0\.1:({named})\b",
                      lambda m: f"127.0.0.1:{held[int(m.group(1))].port}", text)

    (root / "etc").mkdir(parents=True)
    (root / "var").mkdir()
    blocks = section_blocks()
    assert [lang for lang, _ in blocks] == ["toml", "sh", "toml", "sh", "toml"]
    collector_toml = root / "etc" / "collector.toml"
    collector_toml.write_text(sub(blocks[0][1]))
    procs: list[subprocess.Popen] = []
    printed = ""
    try:
        for line in blocks[1][1].splitlines():
            words = shlex.split(sub(line))
            assert words[0] == "parkwatch"
            if words[1:3] == ["cluster", "config"]:
                for name, base in bases.items():
                    words += [f"--{name}-port",
                              ",".join(str(held[base + i].port) for i in range(3))]
            done = subprocess.run([parkwatch_exe, *words[1:]], capture_output=True,
                                  text=True, timeout=60)
            assert done.returncode == 0, done.stderr
            printed += done.stdout
        password = re.search(r'password = "([^"]+)"', printed).group(1)
        with open(collector_toml, "a") as f:
            f.write(sub(blocks[2][1]) + "[api]\nport = 0\nanonymous_read = true\n")
        log = tmp_path / "collector.log"
        for line in blocks[3][1].splitlines():
            words = shlex.split(sub(line).rstrip(" &"))
            if words[0] == "nats-server":
                procs.append(subprocess.Popen([nats_server(), *words[1:]],
                                              stdout=subprocess.DEVNULL,
                                              stderr=open(tmp_path / f"{len(procs)}.log", "ab")))
            elif words[0] == "curl":
                port = int(re.search(r":(\d+)/healthz", words[-1]).group(1))
                wait_for(lambda p=port: healthy(p), 30, what=f"{words[-1]} ok")
            else:
                assert words[:3] == ["parkwatch", "collector", "run"]
                procs.append(subprocess.Popen([parkwatch_exe, *words[1:]],
                                              stdout=subprocess.DEVNULL, stderr=open(log, "ab")))
                api_port = port_in_log(log, procs[-1])
        agent_toml = root / "etc" / "agent.toml"
        agent_toml.write_text("heartbeat_interval_s = 0.5\n" + sub(blocks[4][1]).replace(
            "the password site add printed", password))
        procs.append(subprocess.Popen([parkwatch_exe, "agent", "run", "--config",
                                       str(agent_toml)], stdout=subprocess.DEVNULL,
                                      stderr=open(tmp_path / "agent.log", "ab")))
        with httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=5) as api:
            wait_for(lambda: [s for s in api.get("/api/sites").json()
                              if s["site"] == "lot-1" and s["state"] == "online"], 30,
                     what="lot-1 online at the collector")
    finally:
        stop_all(procs, held)


def stop_all(procs: list[subprocess.Popen], held: dict, wait_s: float = 10) -> None:
    """The walkthrough's processes, newest first, then the ports held for it."""
    for p in reversed(procs):
        p.terminate()
    for p in procs:
        try:
            p.wait(wait_s)
        except subprocess.TimeoutExpired:
            p.kill()
    for h in held.values():
        h.close()
