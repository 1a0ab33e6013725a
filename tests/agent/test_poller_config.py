"""The [[devices]] table: profiles, transports, shared buses; mistakes name the key."""

from __future__ import annotations

import pytest

from agent import config as agent_config
from parkwatch.core.conf import ConfigError

HEAD = 'project = "p"\nsite = "s"\nbroker = "mqtt://127.0.0.1:1883"\n'


def load(tmp_path, devices: str):
    path = tmp_path / "agent.toml"
    path.write_text(HEAD + devices)
    return agent_config.load(path)


def test_profile_defaults_fill_what_the_device_table_leaves_out(tmp_path):
    cfg = load(tmp_path, '[[devices]]\nname = "cam"\nprofile = "lpr-tcp-json"\n'
                         'host = "10.0.0.9"\n[[devices]]\nname = "loops"\n'
                         'profile = "loop-ascii-4ch"\nport = "/dev/ttyUSB1"\npoll_interval_s = 2\n')
    cam, loops = cfg.devices
    assert (cam.poll_interval_s, cam.timeout_s, cam.offline_after, cam.address) == \
        (2.0, 1.0, 3, None)
    assert (cam.lane, cam.loop_timeout_s) == ("cam", 60.0)
    assert (loops.poll_interval_s, loops.timeout_s, loops.address, loops.baud) == \
        (2, 0.3, 1, 9600)


def test_a_profile_by_path_is_relative_to_the_config(tmp_path):
    from agent.profiles import load_named

    (tmp_path / "mine.toml").write_text(load_named("bg-5b-xor").path.read_text())
    cfg = load(tmp_path, '[[devices]]\nname = "g"\nprofile = "mine.toml"\nport = "/dev/x"\n')
    assert cfg.devices[0].profile == str(tmp_path / "mine.toml")


@pytest.mark.parametrize("devices,key,problem", [
    ('name = "g"\nprofile = "bg-9"\nport = "/dev/x"', "devices[0].profile",
     "no profile named 'bg-9'"),
    ('name = "g"\nprofile = "vendors/mine.toml"\nport = "/dev/x"', "devices[0].profile",
     "no profile file"),
    ('name = "c"\nprofile = "lpr-tcp-json"\nport = "/dev/x"', "devices[0].host",
     "is missing (profile lpr-tcp-json talks tcp)"),
    ('name = "c"\nprofile = "lpr-isapi-http"\nurl = "ftp://x"', "devices[0].url",
     "must start with http://"),
    ('name = "m"\nprofile = "bg-modbus-rtu"\nport = "/dev/x"\naddress = 250',
     "devices[0].address", "at most 247"),
    ('name = "g"\nport = "/dev/x"\nparity = "mark"', "devices[0].parity", "must be one of"),
    ('name = "g"\nport = "/dev/x"\nloop_timeout_s = 0', "devices[0].loop_timeout_s",
     "greater than 0"),
    ('name = "a"\nport = "/dev/x"\n[[devices]]\nname = "b"\nport = "/dev/x"', "devices",
     "two devices on /dev/x have address 1"),
    ('name = "a"\nport = "/dev/x"\n[[devices]]\nname = "b"\nport = "/dev/x"\naddress = 2\n'
     'baud = 19200', "devices", "different baud rates"),
    ('name = "a"\nport = "/dev/x"\n[[devices]]\nname = "b"\nport = "/dev/x"\naddress = 2\n'
     'profile = "bg-modbus-rtu"', "devices", "only one of them speaks Modbus"),
])
def test_device_mistakes_name_the_key(tmp_path, devices, key, problem):
    with pytest.raises(ConfigError) as e:
        load(tmp_path, "[[devices]]\n" + devices + "\n")
    assert e.value.key == key and problem in e.value.problem, str(e.value)
