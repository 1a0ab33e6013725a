"""One fault case on a rig: what was injected, and the checks every case makes after it.

A ``Case`` notes the collector's and the agent's counts when it begins; ``cut`` injects an
uplink cut (with a gate fault and recovery during it, so that events must be carried
through the cut); ``finish`` waits until the agent's events have all arrived and checks:

- one site outage per cut, each starting within a second of the cut and lasting within a
  second of it (the agent's uplink record refines the collector's estimate);
- the expected number of incidents;
- every event the agent emitted recorded once: as many as it sent, one device fault
  outage per fault caused, one uplink record per cut.

and records the figures for the summary table.
"""

from __future__ import annotations

import json
import time

from tests.faults import results
from tests.faults.rig import Rig

TOLERANCE_S = 1.0


class Case:
    def __init__(self, rig: Rig, name: str):
        self.rig = rig
        self.name = name
        self.before = rig.last_outage_id()
        self.sent0 = rig.emitted()
        self.recv0 = rig.received()
        self.dup0 = rig.duplicates()
        self.uplinks0 = len(rig.site_events("uplink"))
        self.dropped0 = len(rig.site_events("dropped"))
        self.cuts: list[tuple[float, float]] = []
        self.faults: list[tuple[float, float]] = []

    def cut(self, length_s: float, mode: str = "drop", fault: bool = True) -> None:
        """Cut the uplink for ``length_s``; return once the agent is connected again (so
        that the next cut is a cut of its own, however slow the machine)."""
        rig = self.rig
        n = rig.connections()
        t0 = rig.cut(mode)
        if fault:
            self.faults.append(rig.toggle_fault())
        time.sleep(max(0.0, t0 + length_s - time.time()))
        self.cuts.append((t0, rig.heal()))
        _wait(lambda: rig.connections() > n, what="the agent to connect again")

    def add_cut(self, t0: float, t1: float) -> None:
        self.cuts.append((t0, t1))

    def site_outages(self) -> list[dict]:
        """The case's site outages; one merged into another of the same period is part of
        that one (absorbed, not counted)."""
        return [o for o in self.rig.outages("site_network", after_id=self.before)
                if o["absorbed_by"] is None]

    def finish(self, incidents_expected: int, *, uplink_records: int | None = None,
               outages_expected: int | None = None, made: int | None = None,
               faults_expected: int | None = None, injected: int | None = None,
               settle_s: float = 25) -> dict:
        """Check the case (see the module docstring). ``made``: the events the agent made,
        when its outbox may have dropped some (then what arrived plus what its ``dropped``
        reports count must make that number); otherwise what it stored for sending."""
        rig = self.rig
        records = len(self.cuts) if uplink_records is None else uplink_records
        if made is None:
            rig.settle(settle_s)
        else:
            _wait(lambda: rig.health() is not None and rig.pending() == 0
                  and rig.received() - self.recv0 + self.dropped() >= made, settle_s,
                  what=f"every event made ({made}) to be received or reported dropped")
        # The uplink record of the last cut is what closes its estimate: wait for it.
        if records:
            _wait(lambda: len(rig.site_events("uplink")) - self.uplinks0 >= records,
                  what="the uplink records")
        outages = self.site_outages()
        errors = self._match(outages, outages_expected)
        incidents = [i for i in rig.incidents(after_outage=self.before)
                     if i["kind"] == "site_network"]
        faults = rig.outages("device_fault", after_id=self.before)
        nfaults = len(self.faults) if faults_expected is None else faults_expected
        sent = rig.emitted() - self.sent0 if made is None else made
        received, dropped = rig.received() - self.recv0, self.dropped()
        uplinks = len(rig.site_events("uplink")) - self.uplinks0
        dup = max(0, uplinks - records) + max(0, len(faults) - nfaults)
        result = results.record(
            fault=self.name, injected=len(self.cuts) if injected is None else injected,
            incidents_expected=incidents_expected,
            incidents_found=len(incidents), sent=sent, received=received, duplicated=dup,
            redelivered=rig.duplicates() - self.dup0, dropped=dropped,
            worst_error_s=max(errors) if errors else None)
        if made is not None:  # stored, then dropped to make room: never to be received
            rig.unsent = rig.emitted() - rig.received()
        assert len(incidents) == incidents_expected, (incidents, outages)
        assert sent == received + dropped, f"sent {sent}, received {received}, dropped {dropped}"
        assert uplinks == records, rig.site_events("uplink")[self.uplinks0:]
        assert len(faults) == nfaults, (faults, self.faults)
        if faults_expected is None:
            for (at, back), o in zip(self.faults, faults, strict=True):
                assert abs(o["started_at"] - at) <= 0.5, (o, at)
                assert abs(o["ended_at"] - back) <= 0.5, (o, back)
        return {"outages": outages, "incidents": incidents, "faults": faults,
                "result": result}

    def dropped(self) -> int:
        """Events the agent's full outbox dropped, as its ``dropped`` reports say."""
        return sum(json.loads(e["detail"])["count"]
                   for e in self.rig.site_events("dropped")[self.dropped0:])

    def uplink_details(self) -> list[dict]:
        return [json.loads(e["detail"]) for e in self.rig.site_events("uplink")[self.uplinks0:]]

    def _match(self, outages: list[dict], expected: int | None) -> list[float]:
        """Pair each cut with its outage; return |duration error| per cut."""
        assert len(outages) == (len(self.cuts) if expected is None else expected), \
            (outages, self.cuts)
        errors = []
        for t0, t1 in self.cuts:
            o = max(outages, key=lambda o: min(t1, o["ended_at"]) - max(t0, o["started_at"]))
            assert o["ended_at"] is not None, o
            assert o["start_source"] == "uplink_record", o
            err = abs((o["ended_at"] - o["started_at"]) - (t1 - t0))
            # the agent's own records (their causes and attempts) say where time went
            assert abs(o["started_at"] - t0) <= TOLERANCE_S, (o, t0, self.uplink_details())
            assert err <= TOLERANCE_S, (o, t1 - t0, self.uplink_details())
            errors.append(err)
        return errors


def _wait(cond, timeout: float = 15, what: str = ""):
    from tests.helpers import wait_for

    return wait_for(cond, timeout, 0.1, what=what)
