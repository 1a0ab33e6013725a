"""The collector config's new keys: time zones, budgets, the platform rule, projects."""

import pytest

from collector import config
from parkwatch.core.conf import ConfigError

BASE = 'broker = "mqtt://127.0.0.1:1883"\ndatabase = "c.db"\n'


def load(tmp_path, text):
    path = tmp_path / "collector.toml"
    path.write_text(BASE + text)
    return config.load(path)


def test_defaults_and_per_project_settings(tmp_path):
    cfg = load(tmp_path, 'timezone = "Europe/Berlin"\n[projects.P001]\nbudget_minutes = 90\n'
                         '[projects.P002]\ntimezone = "Asia/Urumqi"\n')
    assert (cfg.timezone, cfg.budget_minutes, cfg.platform.share) == ("Europe/Berlin", 60, 0.3)
    assert cfg.project("P001").timezone == "Europe/Berlin"
    assert cfg.project("P001").budget_minutes == 90
    assert cfg.project("P002").timezone == "Asia/Urumqi"
    assert cfg.project("P003").timezone == "Europe/Berlin"


@pytest.mark.parametrize("text,key,problem", [
    ('timezone = "Mars/Olympus"\n', "timezone", "not a known time zone"),
    ("[platform]\nshare = 1.5\n", "platform.share", "fraction"),
    ("[platform]\nwindow = 15\n", "platform.window", "not a known setting"),
    ("[projects.P001]\nbudget_minutes = -1\n", "projects.P001.budget_minutes",
     "greater than 0"),
    ('[projects."bad id"]\nbudget_minutes = 60\n', "projects.bad id", "letters, digits"),
    ("[projects]\nP001 = 5\n", "projects.P001", "must be a table"),
])
def test_bad_keys_are_named(tmp_path, text, key, problem):
    with pytest.raises(ConfigError) as e:
        load(tmp_path, text)
    assert e.value.key == key and problem in e.value.problem, str(e.value)
