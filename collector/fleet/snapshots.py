"""What one partition's holder shows the other collectors of its sites (pure, ``now``
passed in): a row per site in the shared database, so that any collector's ``/api/sites``
(and the console's board) covers the whole fleet, not only the partitions it holds.

``SnapshotMemo.due(sites, now)`` gives the rows to write: every ``SNAPSHOT_S`` the sites
whose state, boot, devices or clock changed since last written, and those whose last
heartbeat moved on by ``LAST_SEEN_STEP_S`` (a remote site's ``last_seen`` is that coarse;
its state is at most ``SNAPSHOT_S`` late). ``written(rows)`` records them once stored.

``merge(local, rows, now)`` is what a collector answers: its own partitions' sites from
memory, as a lone collector does, the others from their rows; a row whose partition is
held by nobody now, or by a holder that has not written yet (another epoch), says
``unknown``: nobody is watching that site, or not yet.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

SNAPSHOT_S = 5.0
LAST_SEEN_STEP_S = 30.0


def site_json(s) -> dict:
    """A site of a tracker (``SiteView``) as ``/api/sites`` gives it."""
    return {"project": s.project, "site": s.site, "state": s.state,
            "last_seen": s.last_seen, "boot": s.boot,
            "clock_offset_s": None if s.offset is None else round(s.offset, 3),
            "devices": [{"device": name, "state": d.state, "fault": d.fault,
                         "since": d.since} for name, d in sorted(s.devices.items())]}


class SnapshotMemo:
    """What this holder (partition ``number`` at ``epoch``) last stored of each site."""

    def __init__(self, number: int, epoch: int):
        self.number, self.epoch = number, epoch
        self._written: dict[tuple[str, str], tuple] = {}
        self._next = float("-inf")

    def due(self, sites: Iterable, now: float) -> list[tuple]:
        """The rows to store now (none before the next ``SNAPSHOT_S``)."""
        if now < self._next:
            return []
        self._next = now + SNAPSHOT_S
        rows = []
        for s in sites:
            view = site_json(s)
            devices = json.dumps(view["devices"], separators=(",", ":"))
            same = (view["state"], view["boot"], view["clock_offset_s"], devices)
            was = self._written.get((s.project, s.site))
            if was is not None and was[0] == same and (
                    s.last_seen is None or was[1] is not None and
                    s.last_seen - was[1] < LAST_SEEN_STEP_S):
                continue
            rows.append((s.project, s.site, self.number, self.epoch, view["state"],
                         s.last_seen, view["boot"], view["clock_offset_s"], devices, now))
        return rows

    def written(self, rows: list[tuple]) -> None:
        for project, site, _, _, state, last_seen, boot, offset, devices, _ in rows:
            self._written[(project, site)] = ((state, boot, offset, devices), last_seen)


def merge(local: dict[tuple[str, str], dict], rows: Iterable[dict], now: float) -> list[dict]:
    """``local``: (project, site) -> ``site_json`` of the sites this collector holds;
    ``rows``: every stored snapshot with its partition's lease (``lease_owner``,
    ``lease_epoch``, ``lease_expires_at``). Sorted by project and site."""
    out = dict(local)
    for r in rows:
        key = (r["project"], r["site"])
        if key in out:
            continue
        watched = (r["lease_owner"] is not None and r["lease_expires_at"] is not None
                   and r["lease_expires_at"] >= now and r["lease_epoch"] == r["epoch"])
        out[key] = {"project": r["project"], "site": r["site"],
                    "state": r["state"] if watched else "unknown",
                    "last_seen": r["last_seen"], "boot": r["boot"],
                    "clock_offset_s": r["clock_offset_s"],
                    "devices": json.loads(r["devices"])}
    return [out[k] for k in sorted(out)]
