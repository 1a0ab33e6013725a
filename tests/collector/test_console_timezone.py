"""Project time in a real Chromium: a project in New York, a browser and a collector default
in Shanghai; every time the console shows for the project is New York time, the zone named."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from collector.config import ProjectConfig
from tests.console_fixtures import running_console, shot, sign_in

ZONE = "America/New_York"  # the project's; the browser's and the collector's: Asia/Shanghai


@pytest.fixture
def ny_console(tmp_path, mosquitto):
    with running_console(tmp_path, mosquitto, {"p1": ProjectConfig(
            timezone=ZONE, sites=("lot-1",))}) as c:
        yield c


def local(epoch: float, zone: str = ZONE) -> str:
    """The console's rendering of a time: en-GB date and time in the zone, its UTC offset."""
    t = datetime.fromtimestamp(epoch, ZoneInfo(zone))
    minutes = round(t.utcoffset().total_seconds() / 60)
    h, m = divmod(abs(minutes), 60)
    offset = f"UTC{'-' if minutes < 0 else '+'}{h}" + (f":{m:02d}" if m else "")
    return t.strftime("%d/%m/%Y, %H:%M:%S") + " " + offset


def test_every_time_is_in_the_projects_zone_with_the_zone_named(ny_console, page):
    url = ny_console.url
    sign_in(page, url)
    ny_console.sim.go_silent()
    row = page.locator('#down tr[data-device="gate-in"]')
    expect(row).to_be_visible(timeout=10_000)
    [site] = page.request.get(url + "/api/sites").json()
    [gate] = [d for d in site["devices"] if d["device"] == "gate-in"]
    expect(row.locator("td").last).to_have_text(local(gate["since"]))
    expect(row.locator("time")).to_have_attribute("title", ZONE)
    opened = page.locator("#incidents tr[data-incident] td").last
    expect(opened).to_be_visible(timeout=10_000)
    [incident] = page.request.get(url + "/api/workflow/incidents?state=live").json()
    expect(opened).to_have_text(local(incident["opened_at"]))
    expect(page.locator("#updated time")).to_have_attribute("title", ZONE)  # its one project
    shot(page, "board-new-york")

    page.click(f'#incidents tr[data-incident="{incident["id"]}"] a')
    expect(page.locator("#zone")).to_have_text(ZONE)
    expect(page.locator("#timeline time").first).to_have_text(local(incident["opened_at"]))
    times = page.locator("#main time")
    for i in range(times.count()):  # clocks' due times, the timeline: all of them
        expect(times.nth(i)).to_have_attribute("title", ZONE)
    shot(page, "incident-new-york")

    page.goto(url + "/projects/p1")
    expect(page.locator("#zone")).to_have_text(ZONE)


def test_the_zone_arithmetic_holds_for_half_hours_and_daylight_saving(ny_console, page):
    sign_in(page, ny_console.url)
    expect(page.locator("#down")).to_be_visible()  # the board is up: the zones are loaded
    summer, winter = 1782900000.0, 1767225600.0  # 2026-07-01 and 2026-01-01, UTC
    got = page.evaluate("""([s, w]) => { PW.zones.india = "Asia/Kolkata";
        return [fmtTime(s, "p1"), fmtTime(w, "p1"), fmtTime(w, "india"), fmtTime(w, "*"),
                yearStart(2026, "America/New_York")]; }""", [summer, winter])
    assert got == [local(summer), local(winter), local(winter, "Asia/Kolkata"),
                   local(winter, "Asia/Shanghai"),  # not a project: the collector's zone
                   datetime(2026, 1, 1, tzinfo=ZoneInfo(ZONE)).timestamp()]
