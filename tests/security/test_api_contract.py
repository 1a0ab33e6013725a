"""Issue 11 part 8 replayed: what a fuzzer did to the API, against a real collector (mosquitto,
SQLite, HTTP on a free port). Each bad request gets a clear 4xx and changes nothing stored."""

from __future__ import annotations

import json
import sqlite3
import time

import httpx
import pytest

from simulators.broker import Mosquitto
from tests.contract_support import collector_for_contract

TABLES = ("wf_tickets", "wf_attachments", "wf_audit", "wf_problems", "exclusions",
          "maintenance", "audit_log")
HUGE = [2**63, 2**64 + 7, -(2**63) - 1]
MANUAL = {"project": "P001", "kind": "device_fault", "title": "arm stuck",
          "description": "lane 2", "reporter": {"name": "Wang", "contact": "138"},
          "impact": "high", "urgency": "high"}


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api-attacks")
    broker = Mosquitto(workdir=tmp / "mosquitto").start()
    try:
        with collector_for_contract(tmp, broker) as s, httpx.Client(
                base_url=s.url, timeout=10,
                headers={"Authorization": s.tokens["admin"]}) as client:
            client.database = s.database
            yield client
    finally:
        broker.stop()


def stored(api) -> dict:
    with sqlite3.connect(api.database) as conn:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY id").fetchall() for t in TABLES}


def post_raw(api, url: str, text: str) -> httpx.Response:
    """A body as written, NaN and Infinity included (JSON as Python reads it)."""
    return api.post(url, content=text.encode(), headers={"Content-Type": "application/json"})


def first_attachment(api) -> dict:
    return api.get("/api/workflow/incidents/1").json()["attachments"][0]


def test_an_attachment_named_in_chinese_downloads_with_its_name(api):
    a = first_attachment(api)
    r = api.get(f"/api/workflow/incidents/1/attachments/{a['id']}")
    assert r.status_code == 200 and r.content == "现场报告".encode()
    disposition = r.headers["content-disposition"]
    assert "filename*=UTF-8''%E6%8A%A5%E5%91%8A.txt" in disposition
    assert disposition.isascii() and r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("attachment, says", [
    ({"name": "a.txt", "content_type": "text/plain\r\nSet-Cookie: pw_session=x",
      "data_base64": "aGk="}, "content_type"),
    ({"name": "a\r\nb.txt", "data_base64": "aGk="}, "name"),
    ({"name": "link", "url": "javascript:alert(1)"}, "url"),
])
def test_header_breaking_attachments_are_refused(api, attachment, says):
    before = stored(api)
    r = api.post("/api/workflow/incidents/1/attachments", json=attachment)
    assert r.status_code == 422 and says in json.dumps(r.json()["detail"])
    assert stored(api) == before


def test_a_quote_in_a_name_cannot_forge_a_second_filename(api):
    r = api.post("/api/workflow/incidents/1/attachments", json={
        "name": 'x"; filename="evil.exe', "content_type": "text/plain", "data_base64": "aGk="})
    assert r.status_code == 201, r.text
    aid = r.json()["attachments"][-1]["id"]
    got = api.get(f"/api/workflow/incidents/1/attachments/{aid}")
    assert got.headers["content-disposition"].startswith(
        'attachment; filename="x_; filename=_evil.exe"; filename*=UTF-8\'\'')


def test_a_row_stored_before_the_check_is_served_safely(api):
    """A content type with CRLF already in the database goes out as octet-stream."""
    with sqlite3.connect(api.database) as conn:
        aid = conn.execute(
            "INSERT INTO wf_attachments (ticket_id, name, content_type, size, data, added_at) "
            "VALUES (1, 'old.bin', 'text/html\r\nX-Evil: 1', 2, x'6869', ?)",
            (time.time(),)).lastrowid
    r = api.get(f"/api/workflow/incidents/1/attachments/{aid}")
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    assert "x-evil" not in r.headers
    assert api.get("/healthz").status_code == 200  # the connection and server are fine


@pytest.mark.parametrize("method, url", [
    ("get", "/api/workflow/incidents/{n}"),
    ("post", "/api/workflow/incidents/{n}/note"),
    ("post", "/api/workflow/incidents/{n}/attachments"),
    ("get", "/api/workflow/incidents/1/attachments/{n}"),
    ("post", "/api/outages/{n}/exclusion"),
    ("post", "/api/exclusions/{n}/revoke"),
    ("post", "/api/maintenance/{n}/revoke"),
    ("post", "/api/workflow/problems/{n}/confirm"),
    ("get", "/api/incidents/{n}"),
])
def test_an_id_past_64_bits_is_not_found(api, method, url):
    body = {"note": "n", "reason": "not a real mark", "name": "a", "url": "https://x.example",
            "plan_date": "2026-03-20"}
    before = stored(api)
    for n in HUGE:
        path = url.format(n=n)
        if method == "get":
            r = api.get(path)
        else:
            keys = {"note"} if "note" in path else {"plan_date"} if "confirm" in path else \
                {"name", "url"} if "attachments" in path else {"reason"}
            r = api.post(path, json={k: body[k] for k in keys})
        assert r.status_code == 404, (path, r.status_code, r.text)
    assert stored(api) == before


@pytest.mark.parametrize("opened_at", ["NaN", "-Infinity", "Infinity", "-4.67e16", "0",
                                       "-1e10", "1e300", "two years ago"])
def test_an_implausible_opened_at_is_refused(api, opened_at):
    if opened_at == "two years ago":  # (the ids stay the same in every collecting process)
        opened_at = str(time.time() - 2 * 365 * 86400)
    before = stored(api)
    body = json.dumps(MANUAL)[:-1] + f', "opened_at": {opened_at}}}'
    r = post_raw(api, "/api/workflow/incidents", body)
    assert r.status_code == 422 and "opened_at" in r.text, r.text
    assert stored(api) == before


@pytest.mark.parametrize("project, status", [("P\x01", 422), ("../P001", 422), ("", 422),
                                             ("NOPE", 404)])
def test_a_manual_incident_names_a_known_project(api, project, status):
    before = stored(api)
    r = api.post("/api/workflow/incidents", json={**MANUAL, "project": project})
    assert r.status_code == status, r.text
    if status == 404:
        assert r.json()["detail"].startswith("no project 'NOPE'")
    assert stored(api) == before


@pytest.mark.parametrize("reason", ["0", "  0  ", "..", "a1", "--!"])
def test_a_mark_needs_a_reason_in_words(api, reason):
    before = stored(api)
    outage = api.get("/api/outages").json()[1]["id"]  # the seed excluded the first one
    exclusion = api.get("/api/exclusions").json()[0]["id"]
    window = api.get("/api/projects/P001/maintenance").json()[0]["id"]
    for url, extra in [(f"/api/outages/{outage}/exclusion", {}),
                       (f"/api/exclusions/{exclusion}/revoke", {}),
                       ("/api/projects/P001/maintenance",
                        {"from": "2026-05-01T10:00:00", "to": "2026-05-01T11:00:00"}),
                       (f"/api/maintenance/{window}/revoke", {})]:
        r = api.post(url, json={"reason": reason, **extra})
        assert r.status_code == 422, (url, r.text)
        assert r.json()["detail"][0]["msg"].startswith("'reason' must say why in words")
    assert stored(api) == before


def test_every_422_has_the_validation_shape(api):
    before = stored(api)
    for r in [api.post("/api/workflow/incidents", json={**MANUAL, "kind": "meteor"}),
              api.post("/api/workflow/problems/1/confirm", json={}),
              api.post("/api/projects/P001/maintenance", json={
                  "from": "2026-05-01T12:00:00", "to": "2026-05-01T10:00:00",
                  "reason": "cabling"}),
              api.get("/api/reports/monthly", params={"month": "2026-13"})]:
        assert r.status_code == 422
        (error,) = r.json()["detail"]
        assert set(error) >= {"loc", "msg", "type"}, r.text
    assert stored(api) == before


def test_options_and_a_wrong_method_name_every_method_of_the_path(api):
    for path, methods in [("/api/workflow/incidents", "GET, POST, OPTIONS"),
                          ("/api/projects/P001/maintenance", "GET, POST, OPTIONS"),
                          ("/api/workflow/incidents/1/ack", "POST, OPTIONS")]:
        r = httpx.options(str(api.base_url) + path)  # no sign-in needed to ask
        assert (r.status_code, r.headers["allow"]) == (204, methods)
        r = api.delete(path)
        assert (r.status_code, r.headers["allow"]) == (405, methods)


def test_the_document_names_its_security_and_errors(api):
    doc = api.get("/openapi.json").json()
    assert set(doc["components"]["securitySchemes"]) == {"bearerToken", "sessionCookie"}
    ops = doc["paths"]
    assert ops["/api/auth/login"]["post"]["security"] == []
    exclusion = ops["/api/outages/{outage_id}/exclusion"]["post"]
    assert {"bearerToken": []} in exclusion["security"]
    assert {"400", "401", "403", "404", "409", "422"} <= set(exclusion["responses"])
    assert exclusion["responses"]["201"]["content"]["application/json"]["schema"]
