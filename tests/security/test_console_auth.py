"""Attacks on the console and API, replayed over real HTTP against a real collector: each is
refused, and nothing stored changes (every table compared row by row)."""

from __future__ import annotations

import base64
import statistics
import time

from tests import auth_fixtures
from tests.auth_fixtures import PASSWORD

auth_api = auth_fixtures.auth_api  # the fixture

INCIDENT = {"project": "P1", "kind": "unknown", "title": "arm stuck", "description": "lane 2",
            "reporter": {"name": "Wang", "contact": "138"}, "impact": "high",
            "urgency": "high"}


def test_password_guessing_stops_at_the_limit(auth_api):
    before = auth_api.snapshot()
    for i in range(5):
        assert auth_api.login("seat1", f"guess-{i}").status_code == 401
    # The sixth guess is not even checked, and neither is the right password now.
    for password in ("guess-5", PASSWORD):
        r = auth_api.login("seat1", password)
        assert r.status_code == 429, r.text
        assert 1 <= int(r.headers["Retry-After"]) <= 300
        assert "too many failed sign-ins" in r.json()["detail"]
    # Moving to another address does not help: the count is per username too.
    with auth_api.client_from("127.0.0.2") as elsewhere:
        assert auth_api.login("seat1", PASSWORD, elsewhere).status_code == 429
    assert auth_api.snapshot() == before  # no session was ever created


def test_password_spraying_from_one_address_stops_at_the_limit(auth_api):
    before = auth_api.snapshot()
    for i in range(20):  # one guess each at many names, known or not
        assert auth_api.login(f"user{i}", "Summer2026!").status_code == 401
    assert auth_api.login("seat1", "Summer2026!").status_code == 429
    assert auth_api.snapshot() == before
    # Another address is not blocked, and a good password there still signs in.
    with auth_api.client_from("127.0.0.3") as elsewhere:
        assert auth_api.login("seat1", PASSWORD, elsewhere).status_code == 200


def test_an_unknown_username_costs_as_much_as_a_known_one(auth_api):
    """No timing oracle: a wrong password for a real user and any password for a made-up
    user both pay for one scrypt. The margin is wide (without the dummy hash an unknown
    name answers ~20-50 times faster), so load on the machine does not make this flaky."""
    def took(username):
        t0 = time.perf_counter()
        assert auth_api.login(username, "not-the-password").status_code == 401
        return time.perf_counter() - t0

    known, unknown = [], []
    for i in range(4):  # interleaved, so that load changes hit both alike
        known.append(took("li1"))
        unknown.append(took(f"nobody-{i}"))
    assert statistics.median(unknown) > 0.3 * statistics.median(known), (known, unknown)


def test_revoked_expired_and_disabled_credentials_are_refused(auth_api):
    users = auth_api.users()
    live = auth_api.token("seat1")
    expired = auth_api.token("seat1", now=time.time() - 2 * 86400, days=1)
    revoked = auth_api.token("seat1")
    users.revoke_api_token("seat1", revoked["Authorization"][7:], time.time(), "test")
    assert auth_api.client.get("/api/sites", headers=live).status_code == 200
    before = auth_api.snapshot()
    for headers in (expired, revoked):
        assert auth_api.client.get("/api/sites", headers=headers).status_code == 401
        r = auth_api.client.post("/api/workflow/incidents", json=INCIDENT, headers=headers)
        assert r.status_code == 401 and "expired or revoked" in r.json()["detail"]
    assert auth_api.snapshot() == before

    # A disabled user's session and tokens stop at once, mid-session.
    session = auth_api.client_from("127.0.0.4")
    with session:
        assert auth_api.login("seat1", PASSWORD, session).status_code == 200
        assert session.get("/api/auth/me").status_code == 200
        users.set_disabled("seat1", True, time.time(), "test")
        before = auth_api.snapshot()
        assert session.get("/api/auth/me").status_code == 401
        assert session.post("/api/workflow/incidents", json=INCIDENT).status_code == 401
        assert auth_api.client.get("/api/sites", headers=live).status_code == 401
        assert auth_api.client.post("/api/workflow/incidents", json=INCIDENT,
                                    headers=live).status_code == 401
        assert auth_api.login("seat1", PASSWORD, session).status_code == 401
        assert auth_api.snapshot() == before


def test_a_new_password_ends_the_old_sessions(auth_api):
    with auth_api.client_from("127.0.0.5") as thief:
        assert auth_api.login("ops1", PASSWORD, thief).status_code == 200
        auth_api.users().set_password("ops1", "a-brand-new-one", time.time(), "test")
        assert thief.get("/api/auth/me").status_code == 401
        assert auth_api.login("ops1", PASSWORD, thief).status_code == 401


def test_oversized_bodies_get_413_and_store_nothing(auth_api):
    seat = auth_api.token("seat1")
    before = auth_api.snapshot()
    big = "x" * (2 * 1024 * 1024)
    attempts = [
        ("/api/outages/1/exclusion", {"reason": big}),
        ("/api/auth/login", {"username": "seat1", "password": big}),
        ("/api/workflow/incidents", {**INCIDENT, "description": "y" * (9 * 1024 * 1024)}),
        ("/api/workflow/incidents", {**INCIDENT, "attachments": [  # six attachments of 1.5 MiB
            {"name": f"a{i}.bin", "data_base64": base64.b64encode(
                b"z" * (1536 * 1024)).decode()} for i in range(6)]}),
    ]
    for path, body in attempts:
        r = auth_api.client.post(path, json=body, headers=seat)
        assert r.status_code == 413, (path, r.status_code, r.text[:200])
        assert "request body over" in r.json()["detail"]

    def chunked():  # no Content-Length: the cap counts what arrives
        for _ in range(40):
            yield b"{" * 65536

    r = auth_api.client.post("/api/outages/1/exclusion", content=chunked(),
                             headers={**seat, "Content-Type": "application/json"})
    assert r.status_code == 413
    assert auth_api.snapshot() == before


def test_only_the_liaison_group_decides_common_problems(auth_api):
    pid = auth_api.problem()
    confirm = {"plan_date": "2026-12-20", "note": "fix in 5.2"}
    before = auth_api.snapshot()
    for name, why in (("seat1", "seat agent may not"), ("ops1", "member of remote-ops"),
                      ("boss", "manager may not")):
        for action in ("confirm", "reject", "solve"):
            r = auth_api.client.post(f"/api/workflow/problems/{pid}/{action}", json=confirm,
                                     headers=auth_api.token(name))
            assert r.status_code == 403 and why in r.json()["detail"], (name, r.text)
    after = auth_api.snapshot()
    assert after.pop("api_tokens") != before.pop("api_tokens")  # the tokens issued above
    assert after == before
    r = auth_api.client.post(f"/api/workflow/problems/{pid}/confirm", json=confirm,
                             headers=auth_api.token("li1"))
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["confirmed_by"]) == ("confirmed", "li1")
    r = auth_api.client.post(f"/api/workflow/problems/{pid}/solve", json={},
                             headers=auth_api.token("root"))
    assert (r.status_code, r.json()["closed_by"]) == (200, "root")
