"""Incident, project and report pages in a real Chromium, acting as a seat agent would."""

import httpx
from playwright.sync_api import expect

from tests.console_fixtures import shot, sign_in


def test_acknowledge_and_resolve_an_incident_from_its_page(console, page):
    sign_in(page, console.url)
    console.sim.go_silent()
    link = page.locator("#incidents tr[data-incident] a").first
    expect(link).to_be_visible(timeout=15_000)
    expect(page.locator("#incidents tr[data-incident]").first).to_contain_text("remote-ops")
    link.click()
    expect(page.locator("#inc-state")).to_have_text("dispatched")
    page.click("button[data-action=ack]")
    expect(page.locator("#inc-state")).to_have_text("acknowledged")
    page.fill("textarea[name=note]", "power-cycled the controller remotely")
    page.click("button[data-action=resolve]")
    expect(page.locator("#inc-state")).to_have_text("resolved")
    expect(page.locator("#timeline")).to_contain_text("power-cycled the controller remotely")
    expect(page.locator("#timeline")).to_contain_text("seat1")
    expect(page.locator("#timeline")).to_contain_text("outage began")
    shot(page, "incident")


def test_a_member_sees_only_the_actions_its_role_allows(console, page):
    sign_in(page, console.url, "ops1")
    console.sim.go_silent()
    link = page.locator("#incidents tr[data-incident] a").first
    expect(link).to_be_visible(timeout=15_000)
    link.click()
    expect(page.locator("button[data-action=ack]")).to_be_visible()
    expect(page.locator("button[data-action=verify]")).to_have_count(0)
    expect(page.locator("button[data-action=dispatch]")).to_have_count(0)


def test_marking_an_outage_customer_caused_moves_the_budget_bar(scenario_console, page):
    url = scenario_console
    sign_in(page, url)
    page.goto(url + "/projects/P001?year=2026")
    expect(page.locator("#used-min")).to_have_text("40")
    expect(page.locator("#excluded-min")).to_have_text("0")
    expect(page.locator("#budget-chart")).to_be_visible()
    shot(page, "project-before")
    row = page.locator("#outages tr[data-outage]").filter(has_text="S02")
    row.locator("input[name=reason]").fill("customer switched the router off")
    row.locator("button.mark").click()
    expect(page.locator("#used-min")).to_have_text("10")
    expect(page.locator("#excluded-min")).to_have_text("30")
    expect(row).to_contain_text("customer-caused")
    shot(page, "project")


def test_reports_page_and_its_csv(scenario_console, page):
    url = scenario_console
    sign_in(page, url)
    page.goto(url + "/reports")
    expect(page.locator("#scores tr[data-group=remote-ops]")).to_be_visible()
    page.fill("input[name=month]", "2026-03")
    page.click("#month button[type=submit]")
    expect(page.locator("#csv")).to_have_attribute("href",
                                                  "/api/reports/monthly?month=2026-03&format=csv")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    csv = httpx.get(url + "/api/reports/monthly", params={"month": "2026-03", "format": "csv"},
                    cookies=cookies)
    assert csv.status_code == 200 and csv.text.startswith("month,group,")
    shot(page, "reports")


def test_board_is_readable_on_a_phone(console, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN",
                                  timezone_id="Asia/Shanghai")
    pg = context.new_page()
    try:
        sign_in(pg, console.url)
        expect(pg.locator("#signout")).to_have_text("退出")  # the browser's language
        console.sim.go_silent()
        expect(pg.locator('#down tr[data-device="gate-in"]')).to_be_visible(timeout=15_000)
        # the incidents table too, the wider one: it once pushed the page to 398 px
        expect(pg.locator("#incidents tr[data-incident]").first).to_be_visible(timeout=15_000)
        assert pg.evaluate("document.documentElement.scrollWidth") <= 390
        # each wide table scrolls inside its card instead
        assert pg.evaluate("Math.max(...Array.from(document.querySelectorAll('section.card'),"
                           " e => e.getBoundingClientRect().right))") <= 390
        shot(pg, "board-phone")
    finally:
        context.close()
