"""The send window decides alone (agent/sender.py): what to publish, what to delete, when to
start again. No broker, no outbox file: rows in, decisions out."""

import json

from agent.outbox import Row
from agent.sender import SendWindow


def rows(first: int, n: int, live_boot: int | None = 7) -> list[Row]:
    return [Row(i, "device_state", json.dumps({"seq": i}).encode(), live_boot)
            for i in range(first, first + n)]


def test_no_link_nothing_to_send_and_a_full_window_waits():
    w = SendWindow(window=3)
    assert w.room() == 0  # no connection yet
    w.link(1)
    assert w.room() == 3
    batch = rows(1, 3)
    for n, p in enumerate(w.plan(batch, live_boot=7)):
        w.published(p.row_id, mid=100 + n)
    w.batch_done(batch)
    assert (w.room(), w.cursor) == (0, 3)
    assert w.acked([(1, 101)]) == [2]
    assert w.room() == 1 and w.cursor == 3  # the next fetch is after what is in flight


def test_acks_of_another_connection_delete_nothing_and_a_new_one_starts_from_the_oldest():
    w = SendWindow()
    w.link(1)
    batch = rows(1, 2)
    for n, p in enumerate(w.plan(batch, live_boot=7)):
        w.published(p.row_id, mid=n + 1)
    w.batch_done(batch)
    w.link(2)  # reconnected: the broker forgot the old connection's unacknowledged publishes
    assert (w.cursor, w.inflight) == (0, {})
    w.published(1, mid=1)  # the oldest again, under a mid the old connection used too
    assert w.acked([(1, 1), (2, 2)]) == []  # gen 1's ack is not this mid's; 2 not in flight
    assert w.acked([(2, 1)]) == [1]
    w.link(None)
    assert w.room() == 0


def test_a_record_of_another_connection_is_sent_as_historical():
    w = SendWindow()
    live, old, offline = *rows(1, 2), rows(3, 1, live_boot=None)[0]
    old = Row(old.id, old.kind, old.payload, 6)
    plan = w.plan([live, old, offline], live_boot=7)
    assert [p.row_id for p in plan] == [1, 2, 3]
    assert plan[0].payload == live.payload
    assert [json.loads(p.payload).get("historical") for p in plan] == [None, True, True]
