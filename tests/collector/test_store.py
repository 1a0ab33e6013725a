from collector.store import Store, list_incidents, list_outages
from collector.tracking.tracker import Tracker
from tests.collector.test_tracker import ev
from tests.collector.test_tracker import gate_hb as hb


def test_decisions_land_in_sqlite_and_survive_a_restart_without_a_second_incident(db_target):
    path = db_target
    store, t = Store(path), Tracker(threshold_s=60)
    store.apply(t.receive(hb(0.0), 0.0))
    store.apply(t.receive(ev(1.0, "offline", since=1.0), 1.0))
    store.apply(t.tick(70.0))
    assert [i["state"] for i in list_incidents(store.db)] == ["open"]

    # The collector restarts: a new tracker resumes the open outage from the database.
    store2, t2 = Store(path), Tracker(threshold_s=60)
    for outage in store2.open_outages():
        t2.resume(outage)
    store2.apply(t2.tick(80.0))
    store2.apply(t2.receive(ev(100.0, "ok", since=100.0), 100.0))
    incidents = list_incidents(store2.db)
    assert len(incidents) == 1
    assert incidents[0]["state"] == "closed" and incidents[0]["duration_s"] == 99.0
    assert [o["ended_at"] for o in list_outages(store2.db)] == [100.0]


def test_resumed_outage_that_was_not_yet_an_incident_is_declared_once(db_target):
    path = db_target
    store, t = Store(path), Tracker(threshold_s=60)
    store.apply(t.receive(hb(0.0), 0.0))
    store.apply(t.receive(ev(1.0, "offline", since=1.0), 1.0))
    store2, t2 = Store(path), Tracker(threshold_s=60)
    for outage in store2.open_outages():
        t2.resume(outage)
    store2.apply(t2.tick(70.0))
    store2.apply(t2.tick(71.0))
    assert len(list_incidents(store2.db)) == 1


def test_an_event_delivered_twice_is_taken_once_even_after_a_restart(db_target):
    store = Store(db_target)
    assert store.first_delivery("p", "s", 3, 7, 1.0)
    assert not store.first_delivery("p", "s", 3, 7, 2.0)
    assert store.first_delivery("p", "s", 4, 7, 2.0)
    assert not Store(db_target).first_delivery("p", "s", 3, 7, 3.0)
