"""``parkwatch sim site`` runs a whole site from an agent config; its control interface
drives each device from a script; the agent config it writes polls the simulators."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from agent import config as agent_config
from agent.poller import DevicePoller, open_link
from agent.profiles import load_named
from simulators.control import ControlServer
from simulators.device import SimDevice
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "docs/configs/site-all-profiles.toml"


def test_sim_site_serves_every_profile_and_the_written_config_polls_them(tmp_path,
                                                                         parkwatch_exe):
    out = tmp_path / "agent.toml"
    proc = subprocess.Popen([parkwatch_exe, "sim", "site", "--config", str(SITE),
                             "--write-config", str(out), "--link-dir", str(tmp_path),
                             "--duration", "60"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        while not any("agent config for these simulators" in line for line in lines):
            line = proc.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
        text = "".join(lines)
        control = next(w for line in lines for w in line.split() if w.endswith("/devices"))
        cfg = agent_config.load(out)
        assert len(cfg.devices) == 8 and "gate-in" in text and "/dev/pts/" in text
        assert cfg.devices[0].port == str(tmp_path / "ttyUSB0") == cfg.devices[1].port
        httpx.post(f"{control}/gate-truck", json={"fault": "motor"}, timeout=5)
        httpx.post(f"{control}/loops-in", json={"occupied": True, "channel": 4}, timeout=5)
        states = {}
        for dev in cfg.devices:
            poller = DevicePoller(dev, lambda out: None)
            link = open_link(poller.dev, poller.profile)
            try:
                reading = wait_for(lambda p=poller, lk=link: p.poll_once(lk), 10,
                                   what=f"{dev.name} answering")
            finally:
                link.close()
            states[dev.name] = (reading.state, reading.fault)
        assert states == {
            "gate-in": ("ok", None), "gate-out": ("ok", None), "gate-staff": ("ok", None),
            "gate-truck": ("fault", "motor"), "loops-in": ("occupied", None),
            "loops-out": ("ok", None), "cam-in": ("ok", None), "cam-out": ("ok", None)}
        listed = httpx.get(control, timeout=5).json()
        assert {d["name"] for d in listed} == set(states)
    finally:
        proc.terminate()
        proc.wait(10)
    assert proc.returncode == 0 and "Traceback" not in proc.stdout.read()


def test_control_interface_applies_commands_and_explains_refusals():
    gate = SimDevice(load_named("bg-5b-xor"), "gate-in")
    plugged = []
    control = ControlServer({"gate-in": gate}, plugs={"gate-in": plugged.append}).start()
    api = httpx.Client(base_url=control.url, timeout=5)
    try:
        r = api.post("/devices/gate-in", json={"mode": "late", "delay_s": 2, "fault": "motor"})
        assert r.status_code == 200 and (r.json()["mode"], r.json()["fault"]) == ("late", "motor")
        assert (gate.delay_s, gate.values["status"]["fault"]) == (2.0, "motor")
        api.post("/devices/gate-in", json={"intercom": True, "occupied": True})
        assert gate.values["status"]["intercom"] and gate.values["status"]["vehicle"]
        api.post("/devices/gate-in", json={"unplug": True})
        assert plugged == [False]
        for body, problem in (({"fault": "melted"}, "no fault 'melted'"),
                              ({"mode": "asleep"}, "mode must be one of"),
                              ({"explode": 1}, "unknown command 'explode'"),
                              ([1, 2], "JSON object")):
            r = api.post("/devices/gate-in", json=body)
            assert r.status_code == 400 and problem in r.json()["error"], r.text
        assert api.get("/devices/nope").status_code == 404
        assert api.get("/devices/gate-in").json()["faults"][0] == "motor"
    finally:
        api.close()
        control.stop()


def test_sim_site_with_a_bad_config_prints_one_line(tmp_path, parkwatch_exe):
    bad = tmp_path / "a.toml"
    bad.write_text('project = "p"\nsite = "s"\nbroker = "mqtt://h"\n'
                   '[[devices]]\nname = "g"\nprofile = "nope"\nport = "/dev/x"\n')
    proc = subprocess.run([parkwatch_exe, "sim", "site", "--config", str(bad)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "devices[0].profile" in proc.stderr and "no profile named 'nope'" in proc.stderr
