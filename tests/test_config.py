"""Bad config files stop the program with one line naming file, key and problem."""

import subprocess

import pytest

from agent import config as agent_config
from collector import config as collector_config
from parkwatch.core.conf import ConfigError

GOOD = """
project = "p1"
site = "s1"
broker = "mqtt://127.0.0.1:1883"

[[devices]]
name = "gate"
port = "/dev/ttyUSB0"
"""


def top(line):
    """GOOD with a line among the top-level keys."""
    return GOOD.replace('site = "s1"\n', f'site = "s1"\n{line}\n')


def write(tmp_path, text):
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return path


def test_good_config_gets_defaults(tmp_path):
    cfg = agent_config.load(write(tmp_path, GOOD))
    assert cfg.heartbeat_interval_s == 10.0
    assert cfg.devices[0].poll_interval_s == 1.0 and cfg.devices[0].offline_after == 3


@pytest.mark.parametrize("text,key,problem", [
    (GOOD.replace('site = "s1"\n', ""), "site", "is missing"),
    (GOOD.replace('"/dev/ttyUSB0"', "5"), "devices[0].port", "must be a string"),
    (top("heartbeat_interval_s = -1"), "heartbeat_interval_s", "greater than 0"),
    (top("hearbeat_interval_s = 5"), "hearbeat_interval_s", "not a known setting"),
    (GOOD + "baud = 9600.5\n", "devices[0].baud", "must be an integer"),
    (GOOD.replace("mqtt://127.0.0.1:1883", "http://x"), "broker", "mqtt://host:port"),
    (GOOD.replace('"gate"', '"a b"'), "devices[0].name", "letters, digits"),
    (GOOD + '[[devices]]\nname = "gate"\nport = "/dev/x"\n', "devices", "used twice"),
    ("project = ", "", "not valid TOML"),
])
def test_bad_agent_config_names_the_key(tmp_path, text, key, problem):
    with pytest.raises(ConfigError) as e:
        agent_config.load(write(tmp_path, text))
    assert e.value.key == key and problem in e.value.problem
    assert str(tmp_path / "agent.toml") in str(e.value)


def test_bad_collector_config_names_the_key(tmp_path):
    path = tmp_path / "collector.toml"
    path.write_text('broker = "mqtt://h"\ndatabase = "x.db"\n[api]\nport = 70000\n')
    with pytest.raises(ConfigError, match=r"key 'api.port': must be at most 65535"):
        collector_config.load(path)


@pytest.mark.parametrize("half", ["agent", "collector"])
def test_cli_prints_one_line_and_exits_2_without_traceback(tmp_path, parkwatch_exe, half):
    path = write(tmp_path, GOOD.replace('project = "p1"\n', ""))
    proc = subprocess.run([parkwatch_exe, half, "run", "--config", str(path)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert str(path) in lines[0]


def test_missing_config_file(tmp_path, parkwatch_exe):
    proc = subprocess.run([parkwatch_exe, "agent", "run", "--config", str(tmp_path / "no")],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "no such file" in proc.stderr
