"""The agent's settings ([mqtt], [outbox], [[processes]]) and bad config files of either half:
each mistake stops the program with one line naming file, key and problem."""

import subprocess

import pytest

from agent import config as agent_config
from collector import config as collector_config
from parkwatch.core.conf import ConfigError

BASE = 'project = "p1"\nsite = "s1"\nbroker = "mqtts://broker.example:8883"\n'


def load(tmp_path, text):
    path = tmp_path / "agent.toml"
    path.write_text(BASE + text)
    return agent_config.load(path)


def test_defaults(tmp_path):
    cfg = load(tmp_path, "")
    assert cfg.mqtt.username is None and cfg.mqtt.password is None
    assert (cfg.mqtt.reconnect_min_s, cfg.mqtt.reconnect_max_s) == (1.0, 60.0)
    assert cfg.outbox_max_mb == 64.0 and cfg.processes == () and cfg.process_check_s == 2.0


def test_everything_set(tmp_path):
    (tmp_path / "pw").write_text("hunter2\n")
    (tmp_path / "ca.pem").write_text("x")
    (tmp_path / "c.pem").write_text("x")
    (tmp_path / "c.key").write_text("x")
    cfg = load(tmp_path, f"""process_check_s = 5
[mqtt]
username = "u"
password_file = "{tmp_path / 'pw'}"
ca_file = "{tmp_path / 'ca.pem'}"
cert_file = "{tmp_path / 'c.pem'}"
key_file = "{tmp_path / 'c.key'}"
reconnect_min_s = 0.5
reconnect_max_s = 30
connect_timeout_s = 5
clock_topic = "parkwatch/v1/clock"
[outbox]
max_mb = 8
[[processes]]
name = "park-server"
process = "ParkServer"
[[processes]]
name = "lpr-bridge"
cmdline = "lpr_bridge.py"
""")
    assert cfg.mqtt.password.reveal() == "hunter2" and "hunter2" not in repr(cfg)
    assert cfg.outbox_max_mb == 8 and cfg.process_check_s == 5
    assert [(p.name, p.process, p.cmdline) for p in cfg.processes] == \
        [("park-server", "ParkServer", None), ("lpr-bridge", None, "lpr_bridge.py")]


@pytest.mark.parametrize("text,key,problem", [
    ('[mqtt]\nusername = "u"\npassword = "a"\npassword_file = "/etc/hostname"\n',
     "mqtt.password_file", "not both"),
    ('[mqtt]\nusername = "u"\npassword_file = "/nonexistent/pw"\n', "mqtt.password_file",
     "no such file"),
    ('[mqtt]\npassword = "a"\n', "mqtt.username", "is missing"),
    ("[mqtt]\nreconnect_min_s = 10\nreconnect_max_s = 5\n", "mqtt.reconnect_max_s",
     "not be less"),
    ("[mqtt]\nreconnect_min_s = 0\n", "mqtt.reconnect_min_s", "greater than 0"),
    ('[mqtt]\nclock_topic = "a/#"\n', "mqtt.clock_topic", "without + or #"),
    ('[mqtt]\npasword = "typo"\n', "mqtt.pasword", "not a known setting"),
    ("[outbox]\nmax_mb = 0\n", "outbox.max_mb", "at least"),
    ('[[processes]]\nname = "x"\n', "processes[0].process", "or cmdline"),
    ('[[processes]]\nname = "a b"\nprocess = "x"\n', "processes[0].name", "letters"),
    ('[[processes]]\nname = "x"\nprocess = "a"\n[[processes]]\nname = "x"\nprocess = "b"\n',
     "processes", "used twice"),
    ("process_check_s = 0\n", "process_check_s", "at least"),
])
def test_mistakes_name_the_key(tmp_path, text, key, problem):
    with pytest.raises(ConfigError) as e:
        load(tmp_path, text)
    assert e.value.key == key and problem in e.value.problem, str(e.value)


def test_an_empty_password_file_is_an_error_and_its_content_never_appears(tmp_path):
    (tmp_path / "pw").write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        load(tmp_path, f'[mqtt]\nusername = "u"\npassword_file = "{tmp_path / "pw"}"\n')
    (tmp_path / "pw").write_bytes(b"\xff\xfeseekrit")
    with pytest.raises(ConfigError) as e:
        load(tmp_path, f'[mqtt]\nusername = "u"\npassword_file = "{tmp_path / "pw"}"\n')
    assert "seekrit" not in str(e.value)


@pytest.mark.parametrize("case", ["state_dir_is_a_file", "ca_file_is_not_a_certificate"])
def test_what_the_agent_cannot_use_at_start_is_one_line(tmp_path, parkwatch_exe, case):
    import subprocess

    (tmp_path / "a-file").write_text("")
    (tmp_path / "ca.pem").write_text("not a certificate\n")
    text = {
        "state_dir_is_a_file": f'state_dir = "{tmp_path / "a-file"}"\n',
        "ca_file_is_not_a_certificate": f'state_dir = "{tmp_path / "state"}"\n[mqtt]\n'
                                        f'ca_file = "{tmp_path / "ca.pem"}"\n',
    }[case]
    path = tmp_path / "agent.toml"
    path.write_text(BASE + text)
    proc = subprocess.run([parkwatch_exe, "agent", "run", "--config", str(path)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert ("state_dir" if case.startswith("state") else "ca_file") in lines[0]


def test_agents_listen_for_the_collectors_clock_beacons_unless_told_not_to(tmp_path):
    from agent import config as agent_config
    from parkwatch.core import wire

    base = 'project = "p"\nsite = "s"\nbroker = "mqtt://127.0.0.1:1"\n'
    (tmp_path / "a.toml").write_text(base)
    assert agent_config.load(tmp_path / "a.toml").mqtt.clock_topic == wire.CLOCK_TOPIC
    (tmp_path / "b.toml").write_text(base + '[mqtt]\nclock_topic = ""\n')
    assert agent_config.load(tmp_path / "b.toml").mqtt.clock_topic is None


# --- Bad config files of either half: one line naming
# file, key and problem.

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
