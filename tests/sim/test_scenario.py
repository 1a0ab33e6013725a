"""Scenarios through the runner: the production cores on a virtual clock, then the report."""

import itertools
import json
import subprocess
import time

import pytest

from collector.db.connection import open_db
from collector.downtime import report
from collector.store import list_incidents, list_outages
from parkwatch.core.conf import ConfigError
from simulators.scenario import runner, spec

HEAD = """
start = "2026-01-01T00:00:00+08:00"
end   = "2027-01-01T00:00:00+08:00"
heartbeat_interval_s = 10
outage_threshold_s = 60

[[project]]
id = "P001"
timezone = "Asia/Shanghai"
sites = ["S01", "S02"]
"""


def ev(kind, at, dur=None, site="P001/S01", **kw):
    lines = ["[[event]]", f'kind = "{kind}"', f'at = "2026-{at}:00+08:00"']
    if site:
        lines.append(f'site = "{site}"')
    if dur:
        lines.append(f'for = "{dur}"')
    lines += [f'{k} = "{v}"' for k, v in kw.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def run(tmp_path, new_database):
    """``run(body, head=HEAD)``: the scenario played into a new database (the backend's)."""
    made = itertools.count()

    def play(body, head=HEAD):
        n = next(made)
        path = tmp_path / f"s{n}.toml"
        path.write_text(head + body)
        where = new_database(f"s{n}")
        summary = runner.run(spec.load(path), where)
        return summary, open_db(where)

    return play


def budget(db, project="P001", year=2026):
    return report.budget(db, project, year)


def test_the_issues_worked_examples(run):
    _, db = run(ev("uplink_down", "03-03T21:50", "50m") +
                ev("uplink_down", "03-04T07:30", "45m", site="P001/S02"))
    f = budget(db)
    assert f["down_minutes"] == 25.0  # 10 + 15
    assert f["alerts_over_threshold"] == 2 and f["restores_over_target"] == 2
    assert f["longest_restore_minutes"] == 50.0
    outages = list_outages(db)
    assert [o["start_source"] for o in outages] == ["uplink_record"] * 2
    assert len(list_incidents(db)) == 2


def test_two_sites_down_at_once_count_once(run):
    _, db = run(ev("uplink_down", "05-01T10:00", "30m") +
                ev("uplink_down", "05-01T10:10", "30m", site="P001/S02"))
    assert budget(db)["down_minutes"] == 40.0


def test_midnight_and_new_year(run):
    head = HEAD.replace('end   = "2027-01-01', 'end   = "2027-02-01')
    _, db = run(ev("uplink_down", "05-01T21:30", "11h30m") +
                ev("uplink_down", "12-31T21:45", "11h30m", site="P001/S02"), head)
    assert budget(db)["down_minutes"] == 30.0 + 60.0 + 15.0
    assert budget(db, year=2027)["down_minutes"] == 75.0  # 08:00-09:15 on 1 January


def test_short_outage_is_kept_but_counts_nothing(run):
    _, db = run(ev("uplink_down", "06-01T10:00", "45s"))
    assert [o["kind"] for o in list_outages(db)] == ["site_network"]
    assert list_incidents(db) == []
    assert budget(db)["down_minutes"] == 0.0 and budget(db)["alerts_over_threshold"] == 0


def test_customer_cause_and_maintenance_are_excluded_with_an_audit_trail(run):
    body = (ev("uplink_down", "07-01T10:00", "20m", cause="customer") +
            ev("uplink_down", "05-10T08:30", "90m", site="P001/S02") +
            '[[maintenance]]\nproject = "P001"\nfrom = "2026-05-10T09:00:00+08:00"\n'
            'to = "2026-05-10T11:00:00+08:00"\nreason = "planned switch replacement"\n')
    _, db = run(body)
    f = budget(db)
    assert f["down_minutes"] == 30.0 and f["excluded_minutes"] == 80.0
    actions = [r["action"] for r in db.query("SELECT action FROM audit_log ORDER BY id")]
    assert actions == ["add_maintenance", "exclude_outage"]


def test_device_outage_during_a_network_outage_is_absorbed(run):
    _, db = run(ev("uplink_down", "04-01T10:00", "30m") +
                ev("device_offline", "04-01T10:05", "10m", device="gate-1"))
    outages = {o["kind"]: o for o in list_outages(db)}
    assert outages["device_offline"]["absorbed_by"] == outages["site_network"]["id"]
    assert [i["kind"] for i in list_incidents(db)] == ["site_network"]


def test_device_and_software_outages_become_graded_incidents(run):
    _, db = run(ev("device_fault", "04-01T10:00", "20m", device="gate-1",
                             code="motor_overheat") +
                ev("software_down", "04-02T10:00", "40m") +
                ev("device_offline", "04-03T10:00", "3m", device="camera-1"))
    got = {(i["kind"], i["device"], i["grade"], round(i["duration_s"])) for i in
           list_incidents(db)}
    assert got == {("device_fault", "gate-1", "II", 1200), ("software_down", "parking", "I", 2400),
                   ("device_offline", "camera-1", "IV", 180)}
    assert budget(db)["down_minutes"] == 0.0  # only the network counts


def test_collector_down_is_unknown_and_the_outage_is_one_incident(run):
    _, db = run(ev("uplink_down", "08-01T09:55", "20m") +
                ev("collector_down", "08-01T10:00", "10m", site=None))
    assert len(list_outages(db)) == 1 and len(list_incidents(db)) == 1
    assert budget(db)["down_minutes"] == 10.0  # 09:55-10:00 and 10:10-10:15
    runs = list(db.query("SELECT * FROM collector_runs"))
    assert len(runs) == 2


def test_broker_down_is_the_platforms_and_charges_nobody(run):
    _, db = run(ev("broker_down", "09-01T10:00", "10m", site=None))
    assert list_incidents(db) == []
    assert budget(db)["down_minutes"] == 0.0
    assert {o["start_source"] for o in list_outages(db)} == {"uplink_record"}


PLATFORM_HEAD = """
start = "2026-01-01T00:00:00+08:00"
end   = "2026-02-01T00:00:00+08:00"
[[project]]
id = "PA"
sites = ["S1", "S2", "S3", "S4", "S5"]
[[project]]
id = "PB"
sites = ["S1", "S2", "S3", "S4", "S5"]
"""


def test_a_mass_drop_is_one_platform_incident_charged_to_no_project(run):
    body = "".join(ev("uplink_down", "01-10T10:00", "30m", site=s)
                   for s in ("PA/S1", "PA/S2", "PB/S1", "PB/S2"))
    body += ev("uplink_down", "01-20T10:00", "30m", site="PA/S3")
    _, db = run(body, PLATFORM_HEAD)
    incidents = list_incidents(db)
    assert [(i["kind"], i["project"]) for i in incidents] == [("platform", "*"),
                                                              ("site_network", "PA")]
    assert budget(db, "PA", 2026)["down_minutes"] == 30.0  # only the lone outage
    assert budget(db, "PB", 2026)["down_minutes"] == 0.0


def test_the_same_scenario_gives_the_same_database(run):
    body = ev("uplink_down", "03-03T21:50", "50m") + ev("device_fault", "03-04T10:00", "2m")
    _, a = run(body)
    _, b = run(body)
    assert list_outages(a) == list_outages(b)


def test_a_year_of_100_sites_runs_well_under_a_minute(run):
    sites = ", ".join(f'"S{i:02d}"' for i in range(100))
    head = HEAD.replace('sites = ["S01", "S02"]', f"sites = [{sites}]")
    # A minute apart: all at once would be one platform incident (see the test above).
    body = "".join(ev("uplink_down", f"{m:02d}-{d:02d}T{h + i // 60:02d}:{i % 60:02d}", "7m",
                      site=f"P001/S{i:02d}")
                   for i in range(100) for m, d, h in ((2, 5, 9), (6, 7, 12), (10, 9, 19)))
    started = time.monotonic()
    summary, db = run(body, head)
    assert time.monotonic() - started < 20
    assert summary["outages"] == 300 and summary["incidents"] == 300


@pytest.mark.parametrize("body,key,problem", [
    (ev("uplink_down", "03-03T10:00", "90s").replace("uplink_down", "flood"),
     "event[0].kind", "must be one of"),
    (ev("uplink_down", "03-03T10:00", "90s", site="P001/S09"), "event[0].site",
     "not a site of this scenario"),
    (ev("uplink_down", "03-03T10:00", "ninety"), "event[0].for", "duration like"),
    (ev("uplink_down", "03-03T10:00"), "event[0].for", "is missing"),
    (ev("device_offline", "03-03T10:00", "2m", device="gate-9"), "event[0].device",
     "not a device"),
    (ev("collector_down", "03-03T10:00", "2m"), "event[0].site", "takes no site"),
    (ev("uplink_down", "03-03T10:00", "2m") + ev("uplink_down", "03-03T10:01", "2m"),
     "event[1].at", "overlaps event[0]"),
    (ev("uplink_down", "03-03T10:00", "2m", cause="weather"), "event[0].cause", "one of"),
    (ev("uplink_down", "03-03T10:00", "2m", colour="red"), "event[0].colour",
     "not a known setting"),
])
def test_bad_scenarios_name_the_key(tmp_path, body, key, problem):
    path = tmp_path / "bad.toml"
    path.write_text(HEAD + body)
    with pytest.raises(ConfigError) as e:
        spec.load(path)
    assert e.value.key == key and problem in e.value.problem, str(e.value)


def test_cli_runs_a_scenario_and_reports_the_budget(tmp_path, parkwatch_exe, db_target):
    path = tmp_path / "s.toml"
    path.write_text(HEAD + ev("uplink_down", "03-03T21:50", "50m"))
    db = db_target  # a new SQLite file, or a PostgreSQL database (--backend)
    proc = subprocess.run([parkwatch_exe, "sim", "scenario", str(path), "--db", str(db)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "1 incidents" in proc.stdout
    again = subprocess.run([parkwatch_exe, "sim", "scenario", str(path), "--db", str(db)],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "--replace" in again.stderr
    rep = subprocess.run([parkwatch_exe, "report", "budget", "--db", str(db), "--year", "2026",
                          "--project", "P001", "--json"], capture_output=True, text=True,
                         timeout=60)
    figures = json.loads(rep.stdout)
    assert set(figures) == {"project", "year", "budget_minutes", "down_minutes",
                            "remaining_minutes", "excluded_minutes", "alerts_over_threshold",
                            "longest_restore_minutes", "restores_over_target",
                            "availability_window_pct", "availability_24x7_pct", "forecast",
                            "outages"}
    assert figures["down_minutes"] == 10.0 and figures["remaining_minutes"] == 50.0
    table = subprocess.run([parkwatch_exe, "report", "budget", "--db", str(db), "--year",
                            "2026"], capture_output=True, text=True, timeout=60)
    assert table.stdout.splitlines()[1].split()[:4] == ["P001", "2026", "60", "10"]


def test_cli_mistakes_are_one_line(tmp_path, parkwatch_exe):
    path = tmp_path / "s.toml"
    path.write_text(HEAD + ev("uplink_down", "03-03T10:00", "ninety"))
    proc = subprocess.run([parkwatch_exe, "sim", "scenario", str(path), "--db",
                           str(tmp_path / "x.db")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "event[0].for" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    proc = subprocess.run([parkwatch_exe, "report", "budget", "--db", str(tmp_path / "none.db"),
                           "--year", "2026"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "no such database" in proc.stderr


def test_reconnect_while_the_collector_is_away_is_settled_by_the_queued_record(run):
    _, db = run(ev("uplink_down", "08-01T09:55", "20m") +
                ev("collector_down", "08-01T10:00", "30m", site=None))
    [outage] = list_outages(db)
    assert outage["end_source"] == "uplink_record"  # delivered by the persistent session
    assert outage["ended_at"] - outage["started_at"] == 20 * 60
    assert [i["state"] for i in list_incidents(db)] == ["closed"]
    assert budget(db)["down_minutes"] == 5.0  # 09:55-10:00; the rest is unknown


def test_an_outage_still_open_at_the_end_starts_at_its_scenario_time(run):
    _, db = run(ev("uplink_down", "12-31T21:30", "12h"))
    [outage] = list_outages(db)
    assert outage["ended_at"] is None and outage["start_source"] == "last_message"
    f = budget(db)
    assert f["down_minutes"] == 30.0 and f["longest_restore_minutes"] == 150.0
