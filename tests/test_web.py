"""The PM's page and its JSON API over a real store synced against the Jira sandbox.

The page reads what the last sync wrote; decisions made on it are the same
manual decisions as ``demandsync link``/``unlink`` and count on the next sync.
Safety: loopback by default, a token beyond it, other origins refused, feedback
text escaped, no secret on any page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from conftest import cli, run_json
from starlette.testclient import TestClient

from demandsync.config import load_config
from demandsync.domain import FeedbackItem
from demandsync.sandbox.jira import JiraSandbox
from demandsync.sync.store.store import Store
from demandsync.web.app import create_app

REQUESTS = "customfield_10050"
BASE = "http://127.0.0.1:8080"
TOKEN = "web-token-5f2a9c"


def requests_on(sandbox: JiraSandbox, key: str) -> int:
    return int(sandbox.state.issue(key)["fields"].get(REQUESTS) or 0)


NOW = datetime(2026, 11, 29, tzinfo=UTC)


def client_for(config: Path) -> TestClient:
    return TestClient(create_app(load_config(config), now=lambda: NOW), base_url=BASE)


@pytest.fixture
def synced(sandbox: JiraSandbox, config: Path) -> Path:
    run_json(config)
    return config


@pytest.fixture
def client(synced: Path) -> Iterator[TestClient]:
    with client_for(synced) as c:
        yield c


def with_token(config: Path) -> Path:
    config.write_text(config.read_text() + f'\n[web]\ntoken = "{TOKEN}"\n')
    return config


def add_items(config: Path, *items: FeedbackItem) -> None:
    store = Store.open(load_config(config).store_url)
    try:
        store.upsert_items(list(items), {})
    finally:
        store.close()


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert found
    return found.group(1)


# ---- what the page shows -------------------------------------------------------------------


def test_api_epics_gives_the_figures_on_jira_ranked(client: TestClient, sandbox: JiraSandbox) -> None:
    doc = client.get("/api/epics").json()
    assert doc["figures"] == ["requests", "requesters", "accounts", "last_requested", "sources"]
    assert [e["key"] for e in doc["epics"]] == ["PROD-1", "PROD-2", "PROD-4", "PROD-6", "PROD-5", "PROD-3"]
    first = doc["epics"][0]
    assert first["figures"] == {"requests": 6, "requesters": 5, "accounts": 2, "last_requested": "2026-10-20",
                                "sources": "exit-survey 4 · sales-notes 2"}
    # requests per week, oldest first, weeks ending 2026-11-29: items of 10-20, 10-17, 10-04,
    # 10-03 and 10-02 (one week), 09-14
    assert first["weekly_requests"] == [0, 1, 0, 2, 1, 1, 1, 0, 0, 0, 0, 0]
    for epic in doc["epics"]:
        assert epic["figures"]["requests"] == requests_on(sandbox, epic["key"])
        assert len(epic["weekly_requests"]) == 12


def test_epic_page_lists_every_counted_item_with_how_it_was_linked(client: TestClient) -> None:
    doc = client.get("/api/epics/PROD-1").json()
    assert len(doc["items"]) == 6
    assert sorted(i["method"] for i in doc["items"]) == ["explicit", "rule", "rule", "rule", "rule", "rule"]
    notes = next(i for i in doc["items"] if i["method"] == "explicit")
    assert (notes["source"], notes["requester"], notes["account"]) == ("sales-notes", "ines@globex.com", "Globex")
    page = client.get("/epics/PROD-1").text
    assert "Why 6: 6 items counted" in page and "ines@globex.com" in page
    assert client.get("/api/epics/NOPE-1").status_code == 404
    assert "NOPE-1 is not an epic demandsync has seen" in client.get("/epics/NOPE-1").text


def test_epics_page_filters_and_sorts_without_javascript(client: TestClient) -> None:
    page = client.get("/", params={"q": "slack"}).text
    assert "PROD-4" in page and "PROD-1</a>" not in page
    page = client.get("/", params={"sort": "requests", "dir": "asc"}).text
    assert page.index(">PROD-3<") < page.index(">PROD-1<")


def test_a_failed_write_shows_what_jira_kept(client: TestClient, synced: Path) -> None:
    store = Store.open(load_config(synced).store_url)
    try:
        run = store.runs(1)[0]
        [wid] = store.journal_planned(run["id"], [{"epic_key": "PROD-2", "field_id": REQUESTS, "figure": "requests",
                                                   "old": 3, "new": 4}])
        store.journal_done([wid], "failed", "400 not on the edit screen")
    finally:
        store.close()
    epic = client.get("/api/epics/PROD-2").json()
    assert (epic["figures"]["requests"], epic["unwritten"]) == (3, {"requests": 4})


# ---- decisions -------------------------------------------------------------------------------


def test_accepting_from_the_inbox_counts_on_the_next_sync(client: TestClient, synced: Path,
                                                          sandbox: JiraSandbox) -> None:
    inbox = client.get("/api/inbox").json()
    item = inbox["items"][0]
    assert set(item) >= {"id", "source", "text", "suggestions"}
    before = requests_on(sandbox, "PROD-3")
    answer = client.post("/api/decisions", json={"item": item["id"], "epic": "PROD-3", "decision": "accept"})
    assert answer.json() == {"ok": True, "decided": 1}
    assert requests_on(sandbox, "PROD-3") == before  # nothing moves until the sync
    assert client.get("/api/epics/PROD-3").json()["figures"]["requests"] == before
    assert item["id"] not in {i["id"] for i in client.get("/api/inbox").json()["items"]}  # claimed at once
    run_json(synced)
    assert requests_on(sandbox, "PROD-3") == before + 1
    assert client.get("/api/epics/PROD-3").json()["figures"]["requests"] == before + 1
    code, out, _ = cli("explain", "PROD-3", "--config", str(synced), "--json")
    assert [i["method"] for i in json.loads(out)["items"] if f"{i['source']}:{i['item_id']}" == item["id"]] == ["manual"]


def test_unlink_and_move_from_the_epic_page(client: TestClient, synced: Path, sandbox: JiraSandbox) -> None:
    page = client.get("/epics/PROD-1").text
    items = client.get("/api/epics/PROD-1").json()["items"]
    form = {"csrf": csrf_of(page), "next": "/epics/PROD-1", "decision": "move", "from": "PROD-1", "epic": "PROD-5",
            "item": items[0]["id"]}
    answer = client.post("/decisions", data=form, headers={"Origin": BASE}, follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/epics/PROD-1")
    form |= {"decision": "reject", "epic": "PROD-1", "item": items[1]["id"]}
    form.pop("from")
    assert client.post("/decisions", data=form, follow_redirects=False).status_code == 303
    run_json(synced)
    assert (requests_on(sandbox, "PROD-1"), requests_on(sandbox, "PROD-5")) == (4, 2)


def test_pages_list_the_epics_to_pick_once_not_once_per_row(client: TestClient) -> None:
    """Each row's "Move to"/"Pick an epic" names its choice from one list on the page: a list per
    row made a 2,000-epic page carry 2,000 options for every item (megabytes per page)."""
    epics = {e["key"] for e in client.get("/api/epics").json()["epics"]}
    page = client.get("/epics/PROD-1").text
    rows = page.count("<tr data-item=")
    assert rows >= 2
    assert page.count('list="epic-keys"') == rows
    assert sorted(re.findall(r'<option value="([^"]+)"', page)) == sorted(epics - {"PROD-1"})
    inbox = client.get("/inbox").text
    assert inbox.count('list="epic-keys"') >= 2
    assert sorted(re.findall(r'<option value="([^"]+)"', inbox)) == sorted(epics)


def test_bad_decisions_say_what_is_wrong(client: TestClient) -> None:
    def post(body: object) -> httpx.Response:
        return client.post("/api/decisions", json=body)

    answer = post({"item": "exit-survey:nope", "epic": "PROD-1", "decision": "accept"})
    assert answer.status_code == 404 and "no item 'nope' in source 'exit-survey'" in answer.json()["error"]
    ref = client.get("/api/epics/PROD-1").json()["items"][0]["id"]
    answer = post({"item": ref, "epic": "PROD-99", "decision": "accept"})
    assert answer.status_code == 404 and "PROD-99 is not an epic" in answer.json()["error"]
    answer = post({"item": ref, "epic": "PROD-2", "decision": "maybe"})
    assert answer.status_code == 400 and "use accept or reject" in answer.json()["error"]
    answer = client.post("/api/decisions", content=b"item=x", headers={"Content-Type": "text/plain"})
    assert answer.status_code == 415


def test_a_selection_with_one_unknown_item_decides_nothing(client: TestClient) -> None:
    """A PM rejects three rows at once and one of them is gone: the error names it and the other two
    still count (all or nothing), rather than a 404 after half the selection was already stored."""
    before = client.get("/api/epics/PROD-1").json()["items"]
    refs = [before[0]["id"], "exit-survey:nope", before[1]["id"]]
    answer = client.post("/api/decisions", json={"items": refs, "epic": "PROD-1", "decision": "reject"})
    assert answer.status_code == 404 and "no item 'nope'" in answer.json()["error"]
    after = client.get("/api/epics/PROD-1").json()["items"]
    assert [(i["id"], i["method"]) for i in after] == [(i["id"], i["method"]) for i in before]
    answer = client.post("/api/decisions", json={"items": [refs[0], refs[2]], "epic": "PROD-1", "decision": "reject"})
    assert answer.json() == {"ok": True, "decided": 2}
    assert {i["id"] for i in client.get("/api/epics/PROD-1").json()["items"]} == {i["id"] for i in before} - {
        refs[0], refs[2]}


# ---- safety ----------------------------------------------------------------------------------


def test_other_origins_cannot_change_links(client: TestClient) -> None:
    ref = client.get("/api/epics/PROD-1").json()["items"][0]["id"]
    body = {"item": ref, "epic": "PROD-1", "decision": "reject"}
    assert client.post("/api/decisions", json=body, headers={"Origin": "https://evil.example"}).status_code == 403
    assert client.post("/api/decisions", json=body, headers={"Referer": "https://evil.example/x"}).status_code == 403
    page = client.get("/").text
    form = {"csrf": "forged", "decision": "reject", "epic": "PROD-1", "item": ref}
    assert client.post("/decisions", data=form).status_code == 403  # no matching CSRF token
    form["csrf"] = csrf_of(page)
    assert client.post("/decisions", data=form, headers={"Origin": "null"}).status_code == 403
    assert len(client.get("/api/epics/PROD-1").json()["items"]) == 6  # nothing was unlinked


def test_loopback_page_refuses_other_host_names(client: TestClient) -> None:
    """DNS rebinding: a site that points its own name at 127.0.0.1 is not served."""
    assert client.get("/api/epics", headers={"Host": "evil.example:8080"}).status_code == 400
    assert client.get("/api/epics", headers={"Host": "localhost:8080"}).status_code == 200


def test_feedback_text_is_escaped_everywhere(synced: Path) -> None:
    hostile = "<script>alert(1)</script> {{ 7*7 }} <img src=x onerror=alert(2)>"
    add_items(synced, FeedbackItem("hostile", "h1", hostile, requester="<b>mallory</b>", account="{{ config }}",
                                   created_at=datetime(2026, 11, 1, tzinfo=UTC), url="javascript:alert(3)"))
    with client_for(synced) as c:
        c.post("/api/decisions", json={"item": "hostile:h1", "epic": "PROD-2", "decision": "accept"})
        add_items(synced, FeedbackItem("hostile", "h2", hostile + " again", url="javascript:alert(4)"))
        for path in ("/", "/epics/PROD-2", "/inbox"):
            page = c.get(path).text
            assert "<script>alert" not in page and "<img src=x" not in page and "<b>mallory" not in page, path
            assert "javascript:" not in page, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt; {{ 7*7 }}" in c.get("/epics/PROD-2").text
        assert "&lt;script&gt;alert(1)&lt;/script&gt; {{ 7*7 }} &lt;img" in c.get("/inbox").text
        assert c.get("/").headers["content-security-policy"].startswith("default-src 'self'")


def test_token_guards_the_api_and_the_page(synced: Path) -> None:
    with client_for(with_token(synced)) as c:
        assert c.get("/api/epics").status_code == 401
        assert c.get("/api/epics", headers={"Authorization": f"Bearer {TOKEN}x"}).status_code == 401
        assert c.get("/api/epics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        page = c.get("/inbox", follow_redirects=False)
        assert (page.status_code, page.headers["location"]) == (303, "/login?next=/inbox")
        login = c.get("/login").text
        wrong = c.post("/login", data={"csrf": csrf_of(login), "token": "guess", "next": "/inbox"},
                       follow_redirects=False)
        assert wrong.status_code == 401 and "not right" in wrong.text
        right = c.post("/login", data={"csrf": csrf_of(login), "token": TOKEN, "next": "/inbox"},
                       follow_redirects=False)
        assert (right.status_code, right.headers["location"]) == (303, "/inbox")
        assert TOKEN not in right.headers["set-cookie"]
        for path in ("/", "/inbox", "/epics/PROD-1", "/api/epics", "/api/inbox", "/api/epics/PROD-1"):
            answer = c.get(path)
            assert answer.status_code == 200, path
            assert TOKEN not in answer.text and "sandbox-token" not in answer.text, path
        assert c.get("/api/epics", headers={"Host": "demand.example.com"}).status_code == 200  # any name, with a token


def test_non_loopback_host_without_token_exits_2(synced: Path) -> None:
    code, _, err = cli("web", "--config", str(synced), "--host", "0.0.0.0", "--port", "1")
    assert code == 2 and "web.token" in err and "127.0.0.1" in err
    code, _, err = cli("serve", "--config", str(synced), "--every", "1h", "--web", "0.0.0.0:1")
    assert code == 2 and "web.token" in err
    code, _, err = cli("serve", "--config", str(synced), "--every", "1h", "--web", "127.0.0.1:http")
    assert code == 2 and "HOST:PORT" in err


def test_page_beside_the_schedule_serves_over_loopback(synced: Path) -> None:
    from demandsync.web.server import start_beside

    page = start_beside(load_config(synced), "127.0.0.1:0")
    try:
        answer = httpx.get(f"http://127.0.0.1:{page.port}/api/epics", timeout=10)
        assert answer.json()["epics"][0]["figures"]["requests"] == 6
    finally:
        page.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{page.port}/api/epics", timeout=2)


# ---- the CLI's view ------------------------------------------------------------------------------


def test_inbox_command_and_unlinked_export_agree_with_the_api(client: TestClient, synced: Path,
                                                               tmp_path: Path) -> None:
    api = client.get("/api/inbox").json()
    code, out, _ = cli("inbox", "--config", str(synced), "--json")
    assert code == 0 and json.loads(out) == api
    code, out, _ = cli("links", "export", "--state", "unlinked", "--format", "json", "--config", str(synced))
    rows = json.loads(out)
    assert code == 0 and [f"{r['source']}:{r['item_id']}" for r in rows] == [i["id"] for i in api["items"]]
    assert {r["state"] for r in rows} == {"unlinked"} and {r["epic"] for r in rows} == {""}
    rows[0] |= {"epic": "PROD-3", "state": "accepted"}
    edited = tmp_path / "unlinked.json"
    edited.write_text(json.dumps(rows))
    code, out, _ = cli("links", "import", str(edited), "--config", str(synced))
    assert code == 0 and f"1 decision(s) saved, {len(rows) - 1} unchanged, 0 skipped" in out
    code, out, _ = cli("inbox", "--config", str(synced))
    assert code == 0 and f"{len(rows) - 1} item(s) no epic claims" in out
