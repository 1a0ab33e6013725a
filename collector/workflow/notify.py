"""Notifications: events become outbox rows; a worker delivers them with apprise.

apprise speaks DingTalk, WeCom, Feishu, email and plain webhooks, so a route is a list of
apprise URLs. Each (event, URL) is one row of the durable ``wf_outbox`` table, written in
the same transaction as the event; ``Notifier.deliver_due`` claims due rows with a
compare-and-set update, tries each a few times (tenacity) and, when the target stays down,
leaves the row for a later pass with a growing wait. Nothing is lost across a restart and a
dead webhook only ever delays its own rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from tenacity import RetryError, Retrying, retry_if_result, stop_after_attempt, wait_fixed

from collector.workflow.business_time import zone
from collector.workflow.config import Outbox, Route
from collector.workflow.lifecycle import Event

log = logging.getLogger("parkwatch.workflow.notify")

TITLES = {
    "opened": "new incident", "dispatched": "incident dispatched to you",
    "breach": "standard breached", "escalation": "escalation", "reminder":
    "progress update due", "resolved": "resolved, please verify", "reopened":
    "verification failed, reopened", "report_overdue": "fault report overdue",
    "limit": "limit exceeded", "outage_ended": "outage over, awaiting verification",
    "problem": "common problem proposed", "plan_overdue": "common problem past its plan date",
}


def targets(event: Event, routes: tuple[Route, ...]) -> list[tuple[str, str]]:
    """(audience, url) pairs that should hear of ``event``, each URL once."""
    out, seen = [], set()
    for r in routes:
        if r.to in event.audience and event.kind in r.events:
            for url in r.urls:
                if url not in seen:
                    seen.add(url)
                    out.append((r.to, url))
    return out


def render(event: Event, ticket: dict | None, tz: str) -> tuple[str, str]:
    """A short title and a plain-text body a person on a phone can act on."""
    def local(t):
        return datetime.fromtimestamp(t, zone(tz)).strftime("%Y-%m-%d %H:%M")

    d = event.detail
    where = ""
    if ticket is not None:
        where = "/".join(p for p in (ticket["project"], ticket["site"], ticket["device"]) if p)
    title = f"[parkwatch] {TITLES.get(event.kind, event.kind)}"
    if event.ticket_id is not None:
        title += f": #{event.ticket_id} {where}"
    lines = []
    if ticket is not None:
        lines.append(f"{ticket['kind']} (severity {ticket['severity']}), opened "
                     f"{local(ticket['opened_at'])}; {ticket['title'] or ''}".rstrip("; "))
    if "group" in d and d["group"]:
        lines.append(f"group: {d['group']}")
    if "clock" in d:
        lines.append(f"{d['clock']} was due {local(d['due'])}")
    if event.kind == "escalation":
        lines.append(f"escalation level {d['level']}")
    if event.kind == "limit":
        lines.append(f"{d['what']}: {d['count']} (the standard allows {d['limit']})")
    if event.kind == "report_overdue":
        lines.append(f"the fault report was due {local(d['due'])}")
    if event.kind in ("problem", "plan_overdue"):
        lines.append(f"signature {d['signature']} at {len(d['projects'])} projects: "
                     f"{', '.join(d['projects'])}")
    return title, "\n".join(lines) or title


def send_apprise(url: str, title: str, body: str) -> bool:
    import apprise

    a = apprise.Apprise()
    if not a.add(url):
        return False
    return bool(a.notify(body=body, title=title))


class Notifier:
    """Delivers due outbox rows. ``send(url, title, body) -> bool`` is apprise by default."""

    def __init__(self, store, settings: Outbox = Outbox(),
                 send: Callable[[str, str, str], bool] = send_apprise):
        self.store = store
        self.settings = settings
        self.send = send

    def deliver_due(self, now: float, limit: int = 50) -> int:
        """Try every due row once (with its quick retries); return how many were sent."""
        sent = 0
        for row in self.store.claim_outbox(now, limit):
            ok, error = self._try(row)
            if ok:
                self.store.outbox_sent(row["id"], now)
                sent += 1
            else:
                attempts = row["attempts"] + 1
                wait = min(self.settings.backoff_max_s, 5.0 * 2 ** (attempts - 1))
                self.store.outbox_failed(row["id"], now + wait, error)
                log.warning("notification %d to %s failed (%s); next try in %.0f s",
                            row["id"], _redact(row["url"]), error, wait)
        return sent

    def _try(self, row: dict) -> tuple[bool, str]:
        retry = Retrying(stop=stop_after_attempt(self.settings.attempts),
                         wait=wait_fixed(self.settings.retry_wait_s),
                         retry=retry_if_result(lambda ok: not ok))
        try:
            return retry(self.send, row["url"], row["title"], row["body"]), ""
        except RetryError:
            return False, f"not delivered after {self.settings.attempts} tries"
        except Exception as e:  # a sender bug must not stop the other rows
            return False, f"{type(e).__name__}: {e}"


def _redact(url: str) -> str:
    """Webhook URLs carry their token; log the scheme and host only."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/')[0].split('@')[-1]}/…"
