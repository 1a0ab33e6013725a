"""The board in a real Chromium: sign in, watch a site go down live, switch language."""

from playwright.sync_api import expect

from tests.console_fixtures import shot, sign_in


def test_pages_need_sign_in(console, page):
    page.goto(console.url + "/board")
    page.wait_for_url(console.url + "/login")
    page.fill("input[name=username]", "seat1")
    page.fill("input[name=password]", "wrong-password")
    page.click("button[type=submit]")
    expect(page.locator("#login-error")).to_have_text("Wrong username or password.")
    shot(page, "login")


def test_a_device_going_down_appears_on_the_board_without_reloading(console, page):
    sign_in(page, console.url)
    expect(page.locator("#down")).to_have_text("Everything is up.")
    page.evaluate("window.__marker = 'no reload'")
    console.sim.go_silent()
    row = page.locator('#down tr[data-device="gate-in"]')
    expect(row).to_be_visible(timeout=10_000)
    expect(row).to_contain_text("offline")
    expect(page.locator('#incidents tr[data-incident]')).to_have_count(1, timeout=10_000)
    assert page.evaluate("window.__marker") == "no reload"
    shot(page, "board")
    console.sim.go_silent(False)
    expect(row).to_have_count(0, timeout=10_000)


def test_language_switch_is_remembered(console, page):
    sign_in(page, console.url)
    page.click("#lang")
    expect(page.locator("#signout")).to_have_text("退出")
    expect(page.locator("h2").first).to_contain_text("当前故障")
    page.reload()
    expect(page.locator("#signout")).to_have_text("退出")
    shot(page, "board-zh")
    page.click("#lang")
    expect(page.locator("#signout")).to_have_text("Sign out")


def test_api_takes_a_bearer_token_and_refuses_strangers(console):
    import time

    import httpx

    from collector.db.connection import open_db
    from collector.web.auth import Users

    token = Users(open_db(console.collector.cfg.database)).new_api_token("boss", "ci",
                                                                         time.time())
    assert httpx.get(console.url + "/api/sites").status_code == 401
    assert httpx.get(console.url + "/api/sites",
                     headers={"Authorization": "Bearer nope"}).status_code == 401
    r = httpx.get(console.url + "/api/sites", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json()[0]["site"] == "lot-1"


def test_user_cli_adds_users_and_tokens_without_tracebacks(tmp_path, parkwatch_exe):
    import os
    import subprocess

    from collector.store import Store

    db = str(tmp_path / "c.db")
    Store(db)  # the collector's database (`user ...` never creates one by accident)
    env = {**os.environ, "PARKWATCH_PASSWORD": "long-enough-pw"}

    def run(*args):
        return subprocess.run([parkwatch_exe, "user", *args, "--database", db], env=env,
                              capture_output=True, text=True, timeout=30)

    assert run("add", "amy", "--role", "member", "--group", "remote-ops").returncode == 0
    dup = run("add", "amy", "--role", "seat")
    assert dup.returncode == 2 and "exists" in dup.stderr and "Traceback" not in dup.stderr
    no_group = run("add", "bob", "--role", "member")
    assert no_group.returncode == 2 and "needs a group" in no_group.stderr
    assert "amy" in run("list").stdout
    token = run("token", "amy").stdout.strip()
    assert token.startswith("pwt_")
