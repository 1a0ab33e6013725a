"""A scenario plays the workflow too: tickets, simulated responders, reports by hand and
common problems, and ``report monthly --db`` scores the month by the scenario's rules."""

import json
import re
import subprocess
from pathlib import Path

import pytest

from parkwatch.core.conf import ConfigError
from simulators.scenario import runner, spec

DOC = Path(__file__).resolve().parents[2] / "docs" / "scenarios.md"


def doc_example() -> str:
    """The TOML block of docs/scenarios.md's "The workflow in a scenario"."""
    text = DOC.read_text()
    section = text[text.index("## The workflow in a scenario"):]
    return re.search(r"```toml\n(.*?)```", section, re.S).group(1)


def monthly(exe, db, *extra):
    out = subprocess.run([exe, "report", "monthly", "--month", "2026-03", "--db", str(db),
                          "--json", *extra], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    rep = json.loads(out.stdout)
    return rep, {g["group"]: g for g in rep["groups"]}


@pytest.fixture
def march(tmp_path, parkwatch_exe, db_target):
    path = tmp_path / "march.toml"
    path.write_text(doc_example())
    db = db_target
    out = subprocess.run([parkwatch_exe, "sim", "scenario", str(path), "--db", str(db),
                          "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout), db


def test_the_documented_month_gives_the_documented_figures(march, parkwatch_exe):
    summary, db = march
    assert (summary["incidents"], summary["tickets"], summary["tickets_closed"]) == (6, 7, 6)
    assert summary["responder_steps"] == 34
    rep, groups = monthly(parkwatch_exe, db)
    assert rep["incidents"] == 7 and rep["not_assessed"] == 0
    ro = groups["remote-ops"]
    assert (ro["dispatched"], ro["responded_on_time"], ro["handled_on_time"]) == (3, 2, 3)
    assert (ro["handling_median_min"], ro["handling_p90_min"]) == (35.0, 90.0)
    assert (ro["k1"], ro["k2"], ro["score"]) == (33.34, 50.0, 83.34)
    af = groups["branch-after-sales"]
    assert (af["dispatched"], af["late_responses"], af["late_arrivals"]) == (2, 0, 0)
    assert af["penalty_total"] == 0 and af["handling_median_min"] == 70.0
    tl = groups["technical-liaison"]
    assert (tl["dispatched"], tl["responded_on_time"], tl["handled_on_time"]) == (2, 2, 0)
    assert (tl["k1"], tl["k2"], tl["k3"], tl["score"]) == (40.0, 0.0, 20.0, 60.0)
    assert groups["operations-centre"]["tier"]["name"] == "reward 1"
    assert groups["site-patrol"]["handled_on_time"] == 0


def test_each_kind_of_step_is_on_the_tickets(march):
    from collector.db.connection import open_db

    _, db = march
    conn = open_db(db).conn
    rows = {r[0]: r[1:] for r in conn.execute(
        "SELECT id, group_name, state, transfers, plan_changes, source FROM wf_tickets")}
    assert rows[4][:2] == ("site-patrol", "dispatched")  # never answered
    assert rows[6][:3] == ("branch-after-sales", "closed", 1)  # handed on by remote ops
    assert rows[3][3] == 1 and rows[7][3] == 1  # the liaison changed each plan once
    assert rows[7][4] == "manual"
    actions = [a for (a,) in conn.execute(
        "SELECT action FROM wf_audit WHERE ticket_id = 2 AND action != 'outage_ended' "
        "ORDER BY id")]
    assert actions[-5:] == ["ack", "arrive", "resolve", "verify", "close"]
    (state, confirmed, solved), = conn.execute(
        "SELECT state, confirmed_at, solved_at FROM wf_problems")
    assert state == "solved" and solved > confirmed


def test_the_month_does_not_depend_on_the_workflows_step(tmp_path, monkeypatch, new_database):
    path = tmp_path / "march.toml"
    path.write_text(doc_example())
    reports = []
    for step in (60.0, 6 * 3600.0):
        monkeypatch.setattr(runner, "WORKFLOW_STEP_S", step)
        db = new_database(f"m{int(step)}")
        runner.run(spec.load(path), db)
        from collector.workflow import report
        from collector.workflow.cli import stored_workflow
        from collector.workflow.store import WorkflowStore

        store = WorkflowStore(db, stored_workflow(str(db)))
        rep = report.monthly_report(store, "2026-03", 1796000000.0)
        store.close()
        rep.pop("generated_at")
        reports.append(json.dumps(rep, sort_keys=True))
    assert reports[0] == reports[1]


def test_the_scenarios_workflow_table_is_what_the_month_is_scored_by(tmp_path, parkwatch_exe,
                                                                    db_target):
    text = doc_example().replace(
        '[[project]]', '[workflow]\nbusiness_hours = "09:00-18:00"\n'
        '[workflow.groups.remote-ops]\nrespond_min = 3\nhandle_min = 120\nscore = "k"\n'
        'base = 50\n\n[[project]]', 1)
    path, db = tmp_path / "s.toml", db_target
    path.write_text(text)
    runner.run(spec.load(path), db)
    _, groups = monthly(parkwatch_exe, db)
    assert groups["remote-ops"]["respond_within_min"] == 3.0
    assert groups["remote-ops"]["responded_on_time"] == 0  # 5 minutes is late now


@pytest.mark.parametrize("extra, key, problem", [
    ('[responders.night-shift]\nack_after = "5m"\n', "responders.night-shift",
     "not a group of the workflow"),
    ('[responders.remote-ops]\ntransfer_to = "nobody"\n', "responders.remote-ops.transfer_to",
     "not a group"),
    ('[responders.remote-ops]\nack_after = "soon"\n', "responders.remote-ops.ack_after",
     "duration"),
    ('[[manual_incident]]\nproject = "P999"\nat = "2026-03-02T10:00:00+08:00"\ntitle = "x"\n',
     "manual_incident[0].project", "not a project"),
    ('[[manual_incident]]\nproject = "P001"\nat = "2026-03-02T10:00:00+08:00"\ntitle = "x"\n'
     'dispatch = "nobody"\n', "manual_incident[0].dispatch", "auto, seat or a group"),
    ('[[common_problem]]\nsignature = "x"\nconfirm_at = "2026-03-12T10:00:00+08:00"\n'
     'plan_date = "2026-04-01"\nsolve_at = "2026-03-11T10:00:00+08:00"\n',
     "common_problem[0].solve_at", "not be before"),
    ('[[event]]\nkind = "broker_down"\nat = "2026-03-02T10:00:00+08:00"\nfor = "5m"\n'
     'ack_after = "5m"\n', "event[0].kind", "responder keys go on site events"),
])
def test_a_wrong_workflow_key_names_itself(tmp_path, extra, key, problem):
    head = ('start = "2026-03-01T00:00:00+08:00"\nend = "2026-04-01T00:00:00+08:00"\n'
            '[[project]]\nid = "P001"\nsites = ["S01"]\n')
    path = tmp_path / "bad.toml"
    path.write_text(head + extra)
    with pytest.raises(ConfigError) as e:
        spec.load(path)
    assert key in str(e.value) and problem in str(e.value)
