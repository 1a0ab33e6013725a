"""Users, tokens and sign-in limits: the pure parts, the CLI as a real process, and the
caps and group check over real HTTP (the attacks themselves: tests/security/)."""

from __future__ import annotations

import base64
import json
import os
import re
import sqlite3
import subprocess
import time

import pytest

from collector.db.migrations import all_migrations
from collector.store import Store
from collector.web import passwords
from collector.web.auth import TOKEN_DAYS_MAX, AuthError, Users
from collector.web.console.bodylimit import MAX_ATTACHMENT_BODY, MAX_BODY, cap_for
from collector.web.console.ratelimit import LoginLimiter
from tests import auth_fixtures
from tests.auth_fixtures import PASSWORD

auth_api = auth_fixtures.auth_api  # the fixture

T0 = 1_780_000_000.0


# --- the limiter (pure: ``now`` in) -------------------------------------------------------

def test_failures_within_the_window_lock_a_username_until_they_age_out():
    lim = LoginLimiter(per_user=3, per_address=100, window_s=60)
    for i in range(3):
        assert lim.retry_after("amy", "10.0.0.1", T0 + i) is None
        lim.failed("amy", "10.0.0.1", T0 + i)
    assert lim.retry_after("amy", "10.0.0.9", T0 + 10) == 50  # any address
    assert lim.retry_after("bob", "10.0.0.1", T0 + 10) is None  # another name
    assert lim.retry_after("amy", "10.0.0.1", T0 + 60.5) is None  # the first aged out
    lim.failed("amy", "10.0.0.1", T0 + 60.5)  # three again: until the second ages out
    assert lim.retry_after("amy", "10.0.0.1", T0 + 60.5) == 1
    assert lim.retry_after("amy", "10.0.0.1", T0 + 61) is None


def test_success_clears_the_username_but_not_the_address():
    lim = LoginLimiter(per_user=3, per_address=4, window_s=60)
    for _ in range(2):
        lim.failed("amy", "10.0.0.1", T0)
    lim.succeeded("amy", "10.0.0.1", T0 + 1)
    lim.failed("amy", "10.0.0.1", T0 + 2)
    lim.failed("amy", "10.0.0.1", T0 + 2)
    assert lim.retry_after("amy", "10.0.0.2", T0 + 3) is None  # two since the success
    assert lim.retry_after("cat", "10.0.0.1", T0 + 3) == 57  # the address saw four


def test_a_flood_of_names_takes_bounded_memory():
    lim = LoginLimiter(per_user=3, per_address=10**9, window_s=60, max_keys=100)
    for i in range(1000):
        lim.failed(f"u{i}", "10.0.0.1", T0)
    assert len(lim._failures) == 100


# --- passwords and tokens -----------------------------------------------------------------

def test_every_sign_in_costs_one_password_hash(tmp_path, monkeypatch):
    users = Users(Store(tmp_path / "c.db").db)
    users.add("amy", PASSWORD, "seat")
    users.add("old", PASSWORD, "seat")
    users.set_disabled("old", True, T0, "test")
    passwords.dummy_hash()  # made once, up front (the app does this when it starts)
    calls = []
    real = passwords._scrypt
    monkeypatch.setattr(passwords, "_scrypt", lambda *a: calls.append(a) or real(*a))
    for name, password in (("amy", "wrong-password"), ("nobody", "wrong-password"),
                           ("old", PASSWORD), ("amy", PASSWORD)):
        calls.clear()
        try:
            users.authenticate(name, password)
        except AuthError as e:
            assert str(e) == "wrong username or password"
        assert len(calls) == 1, name
    assert calls[0][2:] == (2**14, 8, 1, 32)  # the same work factor as a real hash


def test_tokens_expire_and_revoke_by_id_prefix_or_whole_token(tmp_path):
    users = Users(Store(tmp_path / "c.db").db)
    users.add("amy", PASSWORD, "seat")
    a = users.new_api_token("amy", "grafana", T0, 1)
    b = users.new_api_token("amy", "backup", T0)
    c = users.new_api_token("amy", "cron", T0, TOKEN_DAYS_MAX)
    assert users.by_api_token(a, T0 + 86399).username == "amy"
    assert users.by_api_token(a, T0 + 86400) is None
    for days in (0, -1, TOKEN_DAYS_MAX + 1):
        with pytest.raises(AuthError, match="1-365 days"):
            users.new_api_token("amy", "x", T0, days)
    tokens = {t["name"]: t for t in users.overview()[0]["tokens"]}
    assert tokens["backup"]["expires_at"] == T0 + 90 * 86400
    assert tokens["grafana"]["prefix"] == a[:12] and "token_hash" not in tokens["grafana"]
    users.revoke_api_token("amy", str(tokens["grafana"]["id"]), T0 + 1, "test")
    users.revoke_api_token("amy", b[:10], T0 + 1, "test")
    users.revoke_api_token("amy", c, T0 + 1, "test")
    assert [users.by_api_token(t, T0 + 2) for t in (a, b, c)] == [None, None, None]
    with pytest.raises(AuthError, match="already revoked"):
        users.revoke_api_token("amy", b[:10], T0 + 3, "test")
    users.set_disabled("amy", True, T0 + 3, "test")
    with pytest.raises(AuthError, match="disabled"):
        users.new_api_token("amy", "x", T0 + 3)
    for which, problem in (("pwt_", "8 characters"), ("pwt_nothing", "no token"),
                           ("999", "no token"), ("9" * 30, "no token"), ("²", "8 characters")):
        with pytest.raises(AuthError, match=problem):
            users.revoke_api_token("amy", which, T0 + 3, "test")


def test_tokens_from_before_expiry_existed_expire_after_the_upgrade(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
    migrations = all_migrations()
    for name, sql in migrations[:migrations.index(next(
            m for m in migrations if m[0] == "100_users_sessions_tokens")) + 1]:
        conn.executescript(sql)
        conn.execute("INSERT INTO migrations VALUES (?, datetime('now'))", [name])
    conn.execute("INSERT INTO users (id, username, password_hash, role) "
                 "VALUES (1, 'amy', 'x', 'seat')")
    import hashlib
    conn.execute("INSERT INTO api_tokens VALUES (?, 1, 'legacy', 0)",
                 [hashlib.sha256(b"pwt_legacy-token").hexdigest()])
    conn.commit()
    conn.close()
    users = Users(Store(path).db)
    now = time.time()
    assert users.by_api_token("pwt_legacy-token", now).username == "amy"
    (t,) = users.overview()[0]["tokens"]
    assert abs(t["expires_at"] - (now + 90 * 86400)) < 600 and t["prefix"] == ""


# --- the CLI, as an operator runs it --------------------------------------------------------

def _cli(exe, *args, env=None):
    return subprocess.run([exe, "user", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PARKWATCH_PASSWORD": "long-enough-pw",
                               **(env or {})})


@pytest.mark.parametrize("action", [["add", "amy", "--role", "seat"], ["list"],
                                    ["token", "amy"], ["token", "amy", "--revoke", "1"],
                                    ["disable", "amy"], ["enable", "amy"], ["passwd", "amy"]])
def test_every_user_command_refuses_a_missing_database(tmp_path, parkwatch_exe, action):
    db = tmp_path / "typo.db"
    r = _cli(parkwatch_exe, *action, "--db", str(db))
    assert r.returncode == 2 and f"database {db} does not exist" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not db.exists()


def test_the_cli_refuses_another_programs_database(tmp_path, parkwatch_exe):
    other = tmp_path / "outbox.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE outbox (id INTEGER PRIMARY KEY)")
    before = other.read_bytes()
    r = _cli(parkwatch_exe, "list", "--db", str(other))
    assert r.returncode == 2 and "not a collector database" in r.stderr
    assert other.read_bytes() == before


def test_the_cli_manages_users_and_tokens_and_audits_each_change(tmp_path, parkwatch_exe):
    db = str(tmp_path / "new" / "c.db")
    (tmp_path / "new").mkdir()
    ok = _cli(parkwatch_exe, "add", "root", "--role", "admin", "--db", db, "--create")
    assert ok.returncode == 0, ok.stderr
    assert _cli(parkwatch_exe, "add", "li", "--role", "member", "--group",
                "technical-liaison", "--db", db).returncode == 0
    tok = _cli(parkwatch_exe, "token", "li", "--name", "grafana", "--expires", "30", "--db", db)
    assert tok.returncode == 0 and tok.stdout.startswith("pwt_") and "expires" in tok.stderr
    token = tok.stdout.strip()
    for days in ("0", "366"):
        bad = _cli(parkwatch_exe, "token", "li", "--expires", days, "--db", db)
        assert bad.returncode == 2 and "1-365 days" in bad.stderr
    listing = _cli(parkwatch_exe, "list", "--db", db).stdout
    assert "technical-liaison" in listing and token[:12] in listing and "grafana" in listing
    assert _cli(parkwatch_exe, "token", "li", "--revoke", token[:12], "--db", db
                ).returncode == 0
    assert token[:12] not in _cli(parkwatch_exe, "list", "--db", db).stdout
    assert "revoked" in _cli(parkwatch_exe, "list", "--all", "--db", db).stdout
    assert _cli(parkwatch_exe, "disable", "li", "--db", db).returncode == 0
    assert "disabled" in _cli(parkwatch_exe, "list", "--db", db).stdout
    again = _cli(parkwatch_exe, "disable", "li", "--db", db)
    assert again.returncode == 2 and "already disabled" in again.stderr
    assert _cli(parkwatch_exe, "enable", "li", "--db", db).returncode == 0
    short = _cli(parkwatch_exe, "passwd", "li", "--db", db, env={"PARKWATCH_PASSWORD": "short"})
    assert short.returncode == 2 and "8-1024 characters" in short.stderr
    assert _cli(parkwatch_exe, "passwd", "li", "--db", db,
                env={"PARKWATCH_PASSWORD": "new-long-password"}).returncode == 0
    users = Users(Store(db).db)
    assert users.authenticate("li", "new-long-password").username == "li"
    audit = list(users.db.query("SELECT * FROM audit_log ORDER BY id"))
    assert [(a["action"], a["target"]) for a in audit] == [
        ("user_add", "user:root"), ("user_add", "user:li"), ("token_issue", "user:li"),
        ("token_revoke", "user:li"), ("user_disable", "user:li"), ("user_enable", "user:li"),
        ("user_passwd", "user:li")]
    assert all(a["actor"].startswith("cli") for a in audit)
    assert json.loads(audit[2]["detail"])["days"] == 30
    assert token not in json.dumps(audit)  # the token itself is never written down


# --- caps and the group check over HTTP -----------------------------------------------------

def test_the_body_caps_by_route():
    assert cap_for("POST", "/api/outages/3/exclusion") == MAX_BODY == 1024 * 1024
    assert cap_for("POST", "/api/workflow/incidents") == MAX_ATTACHMENT_BODY
    assert cap_for("POST", "/api/workflow/incidents/4/attachments") == MAX_ATTACHMENT_BODY
    assert cap_for("POST", "/api/workflow/incidents/4/note") == MAX_BODY


def test_an_attachment_within_its_cap_is_accepted(auth_api):
    seat = auth_api.token("seat1")
    data = base64.b64encode(b"p" * (3 * 1024 * 1024)).decode()  # over MAX_BODY as JSON
    r = auth_api.client.post("/api/workflow/incidents", headers=seat, json={
        "project": "P1", "kind": "unknown", "title": "photo", "description": "lane 2",
        "reporter": {"name": "Wang", "contact": "138"}, "impact": "low", "urgency": "low",
        "attachments": [{"name": "photo.jpg", "data_base64": data}]})
    assert r.status_code == 201, r.text[:300]
    assert r.json()["attachments"][0]["size"] == 3 * 1024 * 1024
    r = auth_api.client.post(f"/api/workflow/incidents/{r.json()['id']}/note", headers=seat,
                             json={"note": "n" * (MAX_BODY + 1)})
    assert r.status_code == 413


def test_a_liaison_member_confirms_and_admins_may_too(auth_api):
    pid = auth_api.problem()
    r = auth_api.client.post(f"/api/workflow/problems/{pid}/confirm",
                             headers=auth_api.token("ops1"), json={"plan_date": "2026-12-01"})
    assert r.status_code == 403
    assert r.json()["detail"] == ("common problems are decided by technical-liaison; "
                                  "a member of remote-ops may not")
    r = auth_api.client.post(f"/api/workflow/problems/{pid}/reject", json={},
                             headers=auth_api.token("li1"))
    assert (r.status_code, r.json()["state"]) == (200, "rejected")


def test_the_sign_in_page_says_how_long_to_wait(console, page):
    from playwright.sync_api import expect

    page.goto(console.url + "/login")
    error = page.locator("#login-error")
    for i in range(6):
        page.fill("input[name=username]", "seat1")
        page.fill("input[name=password]", f"guess-{i}")
        page.evaluate("document.getElementById('login-error').textContent = ''")
        page.click("button[type=submit]")
        expect(error).not_to_have_text("")
    expect(error).to_have_text(re.compile(r"Too many failed sign-ins\. Try again in \d+ s\."))
