"""The outbox on real SQLite files: order, acknowledgement, the cap and its drop policy."""

import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.outbox import DROP_FIRST, KEEP, ROW_OVERHEAD, STATE, Outbox, priority


def payload(n: int, size: int = 100) -> bytes:
    return (f'{{"n":{n},"pad":"' + "x" * size + '"}').encode()


def test_records_come_back_in_order_and_leave_when_acknowledged(tmp_path):
    box = Outbox(tmp_path / "o.db", 1_000_000)
    ids = [box.put("device_state", KEEP, payload(i), 100.0 + i, live_boot=7) for i in range(5)]
    rows = box.pending(0, 3)
    assert [r.id for r in rows] == ids[:3] and rows[0].payload == payload(0)
    assert rows[0].live_boot == 7
    assert [r.id for r in box.pending(ids[2], 10)] == ids[3:]
    box.delete([ids[0], ids[1], ids[0]])   # a duplicate ack is harmless
    assert box.depth == 3 and [r.id for r in box.pending()] == ids[2:]


def test_ids_keep_growing_after_the_outbox_was_empty(tmp_path):
    # The sender reads "after the last id it sent"; a reused id would never be sent.
    box = Outbox(tmp_path / "o.db", 1_000_000)
    first = box.put("intercom", DROP_FIRST, payload(1), 1.0)
    box.delete([first])
    assert box.put("intercom", DROP_FIRST, payload(2), 2.0) > first


def test_contents_and_counts_survive_a_reopen(tmp_path):
    box = Outbox(tmp_path / "o.db", 400)
    for i in range(6):
        box.put("intercom", DROP_FIRST, payload(i), float(i))
    depth, size = box.depth, box.bytes
    box.close()
    again = Outbox(tmp_path / "o.db", 400)
    assert (again.depth, again.bytes) == (depth, size)
    assert again.pending_dropped() == 6 - depth > 0


def test_priorities():
    assert priority("uplink") == priority("dropped") == KEEP
    assert priority("device_state", "offline") == priority("device_state", "fault") == KEEP
    assert priority("software", "fault") == KEEP
    assert priority("device_state", "ok") == priority("software", "ok") == STATE
    assert priority("device_state", "occupied") == STATE
    assert priority("intercom") == priority("loop_timeout") == DROP_FIRST


def test_the_lowest_priority_goes_first_and_oldest_first_within_it(tmp_path):
    one = len(payload(0)) + ROW_OVERHEAD
    box = Outbox(tmp_path / "o.db", 4 * one)
    fault = box.put("device_state", KEEP, payload(0), 1.0)
    ok = box.put("device_state", STATE, payload(1), 2.0)
    call1 = box.put("intercom", DROP_FIRST, payload(2), 3.0)
    call2 = box.put("intercom", DROP_FIRST, payload(3), 4.0)
    # Full. A new fault pushes out the oldest intercom press...
    fault2 = box.put("device_state", KEEP, payload(4), 5.0)
    assert [r.id for r in box.pending()] == [fault, ok, call2, fault2]
    # ...a new intercom press pushes out the older one (same priority, oldest first)...
    call3 = box.put("intercom", DROP_FIRST, payload(5), 6.0)
    assert [r.id for r in box.pending()] == [fault, ok, fault2, call3]
    # ...then the recovery goes before any fault...
    box.put("uplink", KEEP, payload(6), 7.0)
    box.put("uplink", KEEP, payload(7), 8.0)
    kinds = [r.kind for r in box.pending()]
    assert kinds == ["device_state", "device_state", "uplink", "uplink"]
    # ...and with only faults left, a new intercom press is the one dropped.
    assert box.put("intercom", DROP_FIRST, payload(8), 9.0) is None
    assert call1 not in [r.id for r in box.pending()]
    # The report itself needs room: it pushes out the oldest fault, and counts it.
    summary = box.report_dropped(lambda s: b'{"dropped":1}', 10.0, None)
    assert summary is not None
    assert summary["by_kind"] == {"intercom": 4, "device_state": 2} and summary["count"] == 6
    assert summary["first_at"] == 1.0 and summary["last_at"] == 9.0
    assert fault not in [r.id for r in box.pending()] and box.bytes <= box.max_bytes


def test_the_drop_report_is_stored_in_the_same_breath_as_the_counters_are_cleared(tmp_path):
    one = len(payload(0)) + ROW_OVERHEAD
    box = Outbox(tmp_path / "o.db", 2 * one)
    for i in range(4):
        box.put("intercom", DROP_FIRST, payload(i), float(i))
    assert box.pending_dropped() == 2
    calls = []

    def make(summary):
        calls.append(summary["count"])
        return b'{"kind":"dropped","count":%d}' % summary["count"]

    # Making room for the report drops one more press: the report says 3, not 2.
    assert box.report_dropped(make, 5.0, 3) == {"count": 3, "by_kind": {"intercom": 3},
                                                "first_at": 0.0, "last_at": 2.0}
    assert calls[-1] == 3 and box.pending()[-1].payload == b'{"kind":"dropped","count":3}'
    assert box.pending_dropped() == 0
    assert box.pending()[-1].kind == "dropped" and box.pending()[-1].live_boot == 3
    assert box.report_dropped(lambda s: b"", 6.0, None) is None  # nothing more to say


def test_a_record_bigger_than_the_cap_is_dropped_not_stored(tmp_path):
    box = Outbox(tmp_path / "o.db", 150)
    assert box.put("uplink", KEEP, payload(0, 500), 1.0) is None
    assert box.depth == 0 and box.pending_dropped() == 1


KINDS = [("intercom", DROP_FIRST), ("device_state", STATE), ("device_state", KEEP),
         ("uplink", KEEP)]


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 300)), min_size=1,
                max_size=60), st.integers(300, 3000))
def test_the_policy_holds_for_any_sequence(tmp_path_factory, puts, cap):
    box = Outbox(tmp_path_factory.mktemp("o") / "o.db", cap)
    model: list[tuple[int, int, int]] = []   # (priority, id, size) of what should be kept
    dropped = 0
    for n, ((kind, prio), size) in enumerate(puts):
        body = payload(n, size)
        rid = box.put(kind, prio, body, float(n))
        need = len(body) + ROW_OVERHEAD
        # The reference model: evict (priority, id) ascending among priority <= prio.
        total = sum(s for _, _, s in model)
        victims, freed = [], 0
        for rec in sorted(r for r in model if r[0] <= prio):
            if total + need - freed <= cap:
                break
            victims.append(rec)
            freed += rec[2]
        if need > cap or total + need - freed > cap:
            assert rid is None
            dropped += 1
        else:
            assert rid is not None
            for v in victims:
                model.remove(v)
            dropped += len(victims)
            model.append((prio, rid, need))
        assert box.bytes <= cap
    assert sorted(r.id for r in box.pending(0, 1000)) == sorted(i for _, i, _ in model)
    assert box.pending_dropped() == dropped
    box.close()


def test_disk_use_stays_near_the_cap(tmp_path):
    cap = 100_000
    box = Outbox(tmp_path / "o.db", cap)
    box.db.execute("PRAGMA synchronous=OFF")  # this test is about space, not durability
    for i in range(1500):
        box.put("device_state", KEEP, payload(i, 250), float(i))
    assert box.bytes <= cap and box.pending_dropped() > 0
    box.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    on_disk = (tmp_path / "o.db").stat().st_size
    assert on_disk < 1.5 * cap, on_disk


def test_an_unreadable_outbox_is_set_aside_not_fatal(tmp_path):
    path = tmp_path / "o.db"
    path.write_bytes(b"this is not a database, it is a damaged SD card" * 100)
    box = Outbox(path, 10_000)
    assert box.depth == 0 and box.put("uplink", KEEP, payload(0), 1.0) is not None
    assert len(list(tmp_path.glob("o.db.corrupt-*"))) == 1


def test_state_values_round_trip(tmp_path):
    box = Outbox(tmp_path / "o.db", 10_000)
    assert box.get_state("k") is None
    box.set_state("k", {"start": 1.5})
    assert box.get_state("k") == {"start": 1.5}
    box.set_state("k", None)
    assert box.get_state("k") is None


def test_a_reader_sees_committed_records_while_the_agent_writes(tmp_path):
    box = Outbox(tmp_path / "o.db", 10_000)
    box.put("uplink", KEEP, payload(1), 1.0)
    other = sqlite3.connect(tmp_path / "o.db")
    assert other.execute("SELECT COUNT(*) FROM outbox").fetchone() == (1,)
    other.close()


def test_a_put_that_fails_leaves_nothing_half_done(tmp_path):
    box = Outbox(tmp_path / "o.db", 10_000)
    with pytest.raises(sqlite3.Error):
        box.put("uplink", KEEP, "not bytes but a list".split(), 1.0)
    assert box.depth == 0 and box.bytes == 0
    assert box.put("uplink", KEEP, payload(1), 1.0) is not None
