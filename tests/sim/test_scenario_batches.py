"""What makes a year of a large fleet fit in minutes changes nothing in the database: the
workflow's write-behind batches, the events planned one site at a time, the file parsed a
chunk of events at a time."""

import sqlite3

import pytest

from collector.workflow.store import WorkflowStore
from parkwatch.core.conf import ConfigError, load_toml
from simulators.scenario import runner, spec, toml_events

YEAR = """
start = "2026-03-01T00:00:00+08:00"
end   = "2026-03-08T00:00:00+08:00"

[responders.remote-ops]
ack_after = "5m"
resolve_after = "30m"
[responders.branch-after-sales]
ack_after = "10m"
arrive_after = "1h"
resolve_after = "30m"
[responders.seat]
verify_after = "10m"

[[project]]
id = "P001"
sites = ["S01", "S02", "S03"]
"""


def events() -> str:
    """Outages at the same instants at several sites (ties), overlapping kinds at one site,
    the collector and the broker away, a call by hand and a customer's own outage."""
    out = []
    for day in range(1, 7):
        for s in ("S01", "S02", "S03"):
            out.append(f'[[event]]\nsite = "P001/{s}"\nkind = "uplink_down"\n'
                       f'at = "2026-03-0{day}T10:00:00+08:00"\nfor = "20m"\n')
        out.append(f'[[event]]\nsite = "P001/S01"\nkind = "device_fault"\ndevice = "gate-1"\n'
                   f'code = "motor"\nat = "2026-03-0{day}T10:05:00+08:00"\nfor = "2h"\n'
                   + ('cause = "customer"\n' if day == 2 else "")
                   + ('ack_after = "20m"\nverify = "fail"\n' if day == 3 else ""))
        out.append(f'[[event]]\nsite = "P001/S02"\nkind = "device_offline"\n'
                   f'device = "camera-1"\nat = "2026-03-0{day}T10:00:00+08:00"\nfor = "15m"\n')
    out.append('[[event]]\nkind = "collector_down"\nat = "2026-03-04T09:50:00+08:00"\n'
               'for = "30m"\n')
    out.append('[[event]]\nkind = "broker_down"\nat = "2026-03-05T09:59:00+08:00"\n'
               'for = "10m"\n')
    out.append('[[manual_incident]]\nproject = "P001"\nsite = "S03"\n'
               'at = "2026-03-03T15:00:00+08:00"\nkind = "software_down"\ntitle = "frozen"\n')
    return "\n".join(out)


def tables(db) -> dict:
    conn = sqlite3.connect(db)
    names = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                        "AND name NOT IN ('collector_runs', 'migrations')")]
    out = {}
    for n in names:
        try:
            out[n] = list(conn.execute(f"SELECT * FROM {n} ORDER BY rowid"))
        except sqlite3.OperationalError:  # WITHOUT ROWID
            out[n] = sorted(conn.execute(f"SELECT * FROM {n}"), key=repr)
    conn.close()
    return out


def test_batched_workflow_writes_the_rows_one_by_one_writes(tmp_path, monkeypatch):
    path = tmp_path / "s.toml"
    path.write_text(YEAR + events())
    summary = runner.run(spec.load(path), tmp_path / "batched.db")
    # a platform incident each day, the faults and the call by hand: tickets worked to closed
    assert (summary["tickets"], summary["tickets_closed"]) == (12, 6)
    assert summary["responder_steps"] == 32
    monkeypatch.setattr(runner, "BatchStore", WorkflowStore)  # every write at once
    runner.run(spec.load(path), tmp_path / "plain.db")
    batched, plain = tables(tmp_path / "batched.db"), tables(tmp_path / "plain.db")
    assert batched["wf_audit"] and batched["wf_events"] and batched["exclusions"]
    assert batched == plain


def test_events_parsed_in_chunks_are_the_events_parsed_whole(tmp_path, monkeypatch):
    path = tmp_path / "s.toml"
    # the events interrupted by other tables: they keep their order and their indices
    path.write_text(YEAR + events().replace("[[manual_incident]]", "[[maintenance]]\n"
                    'project = "P001"\nfrom = "2026-03-06T00:00:00+08:00"\n'
                    'to = "2026-03-06T01:00:00+08:00"\n\n[[manual_incident]]', 1)
                    + '\n[[event]]\nsite = "P001/S03"\nkind = "intercom_call"\n'
                      'device = "gate-1"\nat = "2026-03-07T10:00:00+08:00"\n')
    monkeypatch.setattr(toml_events, "CHUNK", 4)
    head, chunked = toml_events.load(path, 10**6)
    whole = load_toml(path, 10**6)
    assert [(s.prefix, s.data) for s in chunked] == \
        [(s.prefix, s.data) for s in whole.tables("event")]
    assert head.data == {k: v for k, v in whole.data.items() if k != "event"}
    assert len(spec.load(path).events) == len(whole.tables("event"))


@pytest.mark.parametrize("tail,key", [
    ('[[event]]\nsite = "P001/S01"\nkind = "uplink_down"\nfor = "5m"\n'
     'at = "2026-03-02T10:00:00+08:00"\n[[event]]\nkind = "uplink_down"\nsite = \n', ""),
    ('[[event]]\nsite = "P001/S01"\nkind = "uplink_down"\nat = "2026-03-02T10:00:00+08:00"\n'
     'for = "5m"\n[[event]]\nsite = "P001/S01"\nkind = "uplink_down"\n'
     'at = "2026-03-02T10:01:00+08:00"\nfor = "soon"\n', "event[1].for"),
])
def test_mistakes_in_chunked_events_are_named_as_before(tmp_path, monkeypatch, tail, key):
    monkeypatch.setattr(toml_events, "CHUNK", 1)
    path = tmp_path / "s.toml"
    path.write_text(YEAR + tail)
    with pytest.raises(ConfigError) as e:
        spec.load(path)
    assert e.value.key == key
    if not key:
        assert "is not valid TOML" in str(e.value)
