"""The [workflow] table: the sample loads and equals the defaults; every mistake is one line
naming the file and the key; the report command reads it."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from collector.workflow.config import WorkflowConfig, load
from collector.workflow.responders import load as load_responders
from parkwatch.core.conf import ConfigError

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "docs/configs/workflow.toml"


def test_the_sample_is_the_defaults_plus_its_routes():
    cfg = load(SAMPLE)
    defaults = WorkflowConfig()
    assert replace(cfg, routes=(), clocks=defaults.clocks) == defaults
    assert [e.notify for e in cfg.clocks.escalations] == [("seat",), ("ops-manager",)]
    assert {r.to for r in cfg.routes} == {"seat", "remote-ops", "branch-after-sales",
                                          "technical-liaison", "ops-manager"}


def test_no_workflow_table_means_the_defaults(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('database = "x.db"\n')
    assert load(f) == WorkflowConfig()


@pytest.mark.parametrize("toml, key, problem", [
    ('timezone = "Mars/Olympus"', "workflow.timezone", "not a known time zone"),
    ('business_hours = "22:00-08:00"', "workflow.business_hours", "before its end"),
    ('business_hours = "8-22"', "workflow.business_hours", "HH:MM"),
    ('business_days = ["mon", "funday"]', "workflow.business_days", "must list days"),
    ('reminder_every_mins = 30', "workflow.reminder_every_mins", "not a known setting"),
    ('[workflow.groups.remote-ops]\nrespond_min = "fast"', "workflow.groups.remote-ops.respond_min",
     "must be a number"),
    ('[workflow.groups.remote-ops]\nscore = "stars"', "workflow.groups.remote-ops.score",
     "must be one of"),
    ('[[workflow.route]]\nkind = "site_network"\ngroup = "ghostbusters"', "workflow.route[0].group",
     "names no group"),
    ('[[workflow.route]]\nkind = "device_fault"\ngroup = "remote-ops"\ndevice_class = "toaster"',
     "workflow.route[0].device_class", "names no class"),
    ('[[workflow.route]]\nkind = "unknown"\ngroup = "remote-ops"\nseverity = 4',
     "workflow.route[0].severity", "1, 2 or 3"),
    ('[[workflow.tier]]\nname = "x"\namount = 1\nat_least = { V = 1 }',
     "workflow.tier[0].at_least.V", "is not a grade"),
    ('[[workflow.notify]]\nto = "seat"\nurls = ["nonsense"]', "workflow.notify[0].urls[0]",
     "not a notification URL"),
    ('[[workflow.notify]]\nto = "seat"\nurls = ["json://h/x"]\nevents = ["party"]',
     "workflow.notify[0].events", "is not an event"),
    ('[[workflow.escalation]]\nafter_min = 10\nnotify = ["ceo"]', "workflow.escalation[0].notify",
     "'ceo' is neither a group"),
    ('[workflow.outbox]\nattempts = 0', "workflow.outbox.attempts", "at least 1"),
])
def test_a_mistake_names_the_file_and_the_key(tmp_path, toml, key, problem):
    f = tmp_path / "collector.toml"
    f.write_text(f'database = "x.db"\n[workflow]\n{toml}\n')
    with pytest.raises(ConfigError) as e:
        load(f)
    assert str(e.value).startswith(f"{f}: key '{key}': ")
    assert problem in str(e.value)


def test_responder_keys_are_read_from_a_scenario(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text("""
start = "2026-03-01T00:00:00+08:00"
[responders.remote-ops]
ack_after = "5m"
resolve_after = "1.5h"
[responders.seat]
verify_after = "90s"
[[event]]
site = "P1/S1"
kind = "device_offline"
device = "gate-in"
at = "2026-03-03T10:00:00+08:00"
for = "10m"
ack_after = "20m"
verify = "fail"
[[event]]
site = "P1/S1"
kind = "uplink_down"
at = 2026-03-04T10:00:00+08:00
for = "2m"
""")
    r = load_responders(f)
    assert (r.groups["remote-ops"].ack_after, r.groups["remote-ops"].resolve_after) == \
        (300.0, 5400.0)
    assert r.groups["seat"].verify_after == 90.0
    (o,) = r.overrides  # the second event sets no responder key
    assert (o.project, o.site, o.device, o.end - o.start) == ("P1", "S1", "gate-in", 600.0)
    assert (o.delays.ack_after, o.delays.verify) == (1200.0, "fail")
    f.write_text('[responders.remote-ops]\nack_after = "soon"\n')
    with pytest.raises(ConfigError, match="responders.remote-ops.ack_after.*90s, 5m or 2h"):
        load_responders(f)


def test_report_monthly_from_the_command_line(tmp_path, parkwatch_exe):
    from collector.workflow.store import WorkflowStore

    db = tmp_path / "c.db"
    store = WorkflowStore(db, WorkflowConfig())
    store.create({"source": "manual", "project": "P1", "kind": "unknown", "severity": 3,
                  "opened_at": 1_772_503_200.0}, 1_772_503_200.0, "seat",
                 dispatch_to="remote-ops")
    store.close()
    cfg = tmp_path / "collector.toml"
    cfg.write_text(f'broker = "mqtt://127.0.0.1"\ndatabase = "{db}"\n'
                   '[workflow]\n[workflow.groups.remote-ops]\nbase = 60\n')

    def run(*args):
        return subprocess.run([parkwatch_exe, "report", "monthly", *args],
                              capture_output=True, text=True, timeout=60)

    text = run("--month", "2026-03", "--database", str(db))
    assert text.returncode == 0, text.stderr
    assert "Monthly scores 2026-03" in text.stdout and "remote-ops" in text.stdout
    csv = run("--month", "2026-03", "--csv", "--config", str(cfg))
    header, *rows = csv.stdout.splitlines()
    assert header.startswith("month,group,") and len(rows) == 5
    ro = next(r for r in rows if ",remote-ops," in r).split(",")
    k1 = header.split(",").index("k1")
    assert ro[k1] == "0.0"  # the one dispatch was never answered; base 60 from the config
    as_json = run("--month", "2026-03", "--json", "--db", str(db))
    assert '"month": "2026-03"' in as_json.stdout
    for args, message in ((("--month", "2026-3", "--db", str(db)), "YYYY-MM"),
                          (("--month", "2026-03", "--db", str(tmp_path / "no.db")),
                           "no such database"),
                          (("--month", "2026-03",), "give --config"),
                          (("--month", "2026-03", "--config", str(tmp_path / "x.toml")),
                           "no such file")):
        r = run(*args)
        assert r.returncode == 2 and message in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
