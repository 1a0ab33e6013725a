"""The platform detector's drop window and member lookup (heaps since issue 11) decide
exactly what the scans they replaced decided: random drops, returns and revised starts fed
to both."""

from __future__ import annotations

import random

import pytest

from collector.tracking.outages import SITE_NETWORK, Outage, OutageKey
from collector.tracking.platform import PlatformDetector, PlatformRule


class ScanDetector(PlatformDetector):
    """The detector as it was: a list of recent drops filtered at each drop, and a scan of
    every member for the latest start."""

    def __post_init__(self):
        self.recent = []

    def site_down(self, outage, online_now, now):
        w = self.rule.window_s
        if self.active is not None and self._near(outage.started_at):
            return self._join(outage, now)
        self.recent = [o for o in self.recent
                       if o.ended_at is None and abs(o.started_at - outage.started_at) <= w]
        self.recent.append(outage)
        dropped = len(self.recent)
        if dropped < self.rule.min_sites or dropped < self.rule.share * (online_now + dropped):
            return []
        start = min(o.started_at for o in self.recent)
        self.active = Outage(OutageKey("platform", "*", "*"), start, now, last_seen_at=start)
        out = [("started", start)]
        for o in self.recent:
            out += self._join(o, now)
        self.recent = []
        return out

    def site_up(self, outage):
        if self.members.pop(outage.key, None) is None or self.members:
            return None
        platform, self.active = self.active, None
        return platform

    def revised(self, outage):
        pass

    def _near(self, started_at):
        latest = max((o.started_at for o in self.members.values()),
                     default=self.active.started_at)
        return started_at <= latest + self.rule.window_s


def summary(decisions):
    out = []
    for d in decisions:
        if isinstance(d, tuple):
            out.append(d)
        elif type(d).__name__ == "OutageStarted":
            out.append(("started", d.outage.started_at))
        else:
            out.append((type(d).__name__, d.outage.key.site))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_the_heaps_decide_as_the_scans_did(seed):
    rnd = random.Random(seed)
    rule = PlatformRule(share=rnd.choice([0.1, 0.3, 0.5]), window_s=rnd.choice([5.0, 15.0]),
                        min_sites=rnd.choice([2, 3, 5]))
    new, old = PlatformDetector(rule), ScanDetector(rule)
    sites = 40
    open_ = {}  # site -> (new outage, old outage)
    now = 0.0
    for step in range(400):
        now += rnd.random() * 3
        site = f"s{rnd.randrange(sites)}"
        op = rnd.random()
        if site not in open_ and op < 0.6:
            start = now - rnd.random() * 20
            pair = tuple(Outage(OutageKey(SITE_NETWORK, "p", site), start, now)
                         for _ in range(2))
            open_[site] = pair
            online = sites - len(open_)
            a = summary(new.site_down(pair[0], online, now))
            b = summary(old.site_down(pair[1], online, now))
            assert a == b, (step, a, b)
        elif site in open_ and op < 0.9:
            pair = open_.pop(site)
            for o in pair:
                o.ended_at = now
            if rnd.random() < 0.8:  # noticed; else ended by a record the detector missed
                a, b = new.site_up(pair[0]), old.site_up(pair[1])
                assert (a is None) == (b is None), step
        elif site in open_:
            start = now - rnd.random() * 30
            for o, det in zip(open_[site], (new, old), strict=True):
                o.started_at = start
                det.revised(o)
        assert sorted(k.site for k in new.members) == sorted(k.site for k in old.members)
        assert (new.active is None) == (old.active is None)
