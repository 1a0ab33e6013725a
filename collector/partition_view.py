"""What a partitioned collector (collector/partitioned.py) shows as one: the partitions'
connections, storage guards, sites and lag, read the way the API reads a lone ingest's."""

from __future__ import annotations

from collector.storage_guard import StorageGuard


class AllConnected:
    """``connected.is_set()``: every partition held is subscribed (and one is held)."""

    def __init__(self, owner):
        self._owner = owner

    def is_set(self) -> bool:
        parts = self._owner._each()
        return bool(parts) and all(p.connected.is_set() for p in parts)


class Guards:
    """The partitions' storage guards as one: failing while any fails."""

    def __init__(self, owner, grace_s: float):
        self._owner = owner
        self._idle = StorageGuard(grace_s)  # nothing held: nothing failing

    def _guards(self) -> list[StorageGuard]:
        return [p.storage for p in self._owner._each()] or [self._idle]

    def report(self, mono: float) -> dict:
        guards = self._guards()
        failing = [g for g in guards if not g.ok]
        out = (failing[0] if failing else guards[0]).report(mono)
        out["failures"] = sum(g.failures for g in guards)
        return out

    def expired(self, mono: float) -> bool:
        return any(g.expired(mono) for g in self._guards())

    @property
    def ok(self) -> bool:
        return all(g.ok for g in self._guards())


class Sites:
    """``tracker.sites`` of every partition held, each read under its partition's lock."""

    def __init__(self, parts):
        self.sites = {}
        for p in parts:
            with p.lock:
                if p.tracker is not None:
                    self.sites.update(p.tracker.sites)


def merged_lag(reports: list[dict]) -> dict:
    """The partition furthest behind speaks for all; counts add up."""
    if not reports:
        return {"lag_s": 0.0, "max_lag_s": 0.0, "behind": False, "times_behind": 0,
                "unread_bytes": 0, "shed_heartbeats": 0}
    worst = dict(max(reports, key=lambda r: r["lag_s"]))
    worst["max_lag_s"] = max(r["max_lag_s"] for r in reports)
    worst["behind"] = any(r["behind"] for r in reports)
    for key in ("times_behind", "unread_bytes", "shed_heartbeats"):
        worst[key] = sum(r[key] for r in reports)
    return worst
