"""CannySource: posts × voters become records; merges, Jira links, paging, cursor, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from demandsync.connectors.base import Record, SourceContext
from demandsync.connectors.canny import CannyOptions, CannySource
from demandsync.connectors.http import FatalAPIError
from demandsync.domain import FeedbackItem, Quarantined
from demandsync.mappings.engine import build_mapper

API = "https://canny.io/api/v1"
KEY = "canny-secret-key-123"
BOARD = {"id": "b1", "created": "2024-01-01T00:00:00.000Z", "name": "Feature Requests", "postCount": 3,
         "url": "https://acme.canny.io/admin/board/feature-requests"}


def _user(uid: str, email: str | None, company: str | None = None, mrr: float | None = None) -> dict[str, Any]:
    user: dict[str, Any] = {"id": uid, "created": "2023-05-01T00:00:00.000Z", "email": email, "isAdmin": False,
                            "name": uid.title(), "url": f"https://acme.canny.io/admin/users/{uid}", "userID": None}
    if company:
        user["companies"] = [{"id": f"c-{company}", "name": company, "monthlySpend": mrr}]
    return user


def _post(pid: str, created: str, **extra: Any) -> dict[str, Any]:
    return {"id": pid, "title": f"Post {pid}", "details": f"Details of {pid}", "created": created,
            "author": _user("author", "author@acme.com"), "board": {"id": "b1", "name": "Feature Requests"},
            "status": "open", "score": 0, "tags": [{"id": "t1", "name": "sso"}],
            "url": f"https://acme.canny.io/feature-requests/p/{pid}", "jira": {"linkedIssues": []}, **extra}


def _vote(vid: str, voter: dict[str, Any], created: str = "2024-06-02T00:00:00.000Z") -> dict[str, Any]:
    return {"id": vid, "voter": voter, "created": created, "by": None, "board": BOARD}


class Canny:
    """A Canny double: records the request bodies, serves posts and votes in pages."""

    def __init__(self, posts: list[dict[str, Any]], votes: dict[str, list[dict[str, Any]]]) -> None:
        self.posts = posts
        self.votes = votes
        self.bodies: list[tuple[str, dict[str, Any]]] = []
        respx.post(f"{API}/boards/list").mock(side_effect=self._boards)
        respx.post(f"{API}/posts/list").mock(side_effect=self._posts)
        respx.post(f"{API}/votes/list").mock(side_effect=self._votes)

    def _body(self, request: httpx.Request) -> dict[str, Any]:
        body = json.loads(request.content)
        self.bodies.append((request.url.path.rsplit("/", 2)[-2], body))
        return body

    def _boards(self, request: httpx.Request) -> httpx.Response:
        self._body(request)
        return httpx.Response(200, json={"boards": [BOARD]})

    def _posts(self, request: httpx.Request) -> httpx.Response:
        body = self._body(request)
        skip, limit = body["skip"], body["limit"]
        return httpx.Response(200, json={"posts": self.posts[skip:skip + limit],
                                         "hasMore": skip + limit < len(self.posts)})

    def _votes(self, request: httpx.Request) -> httpx.Response:
        body = self._body(request)
        votes = self.votes.get(body["postID"], [])
        skip, limit = body["skip"], body["limit"]
        return httpx.Response(200, json={"votes": votes[skip:skip + limit], "hasMore": skip + limit < len(votes)})


def _source(tmp_path: Path, full: bool = False, **options: Any) -> CannySource:
    opts = CannyOptions(api_key=KEY, page_size=2, **options)
    return CannySource(opts, SourceContext("canny", tmp_path, full=full), sleep=lambda s: None)


POSTS = [
    _post("p3", "2024-06-03T00:00:00.000Z", jira={"linkedIssues": [{"id": "1", "key": "PROD-7", "url": "x"}]},
          mergeHistory=[{"created": "2024-06-04T00:00:00.000Z", "post": {"id": "p2", "title": "Dup"}}]),
    _post("p2", "2024-06-02T00:00:00.000Z"),  # merged into p3: its voters are on p3 now
    _post("p1", "2024-06-01T00:00:00.000Z"),  # nobody voted: its author is the requester
]
VOTES = {
    "p3": [_vote("v1", _user("ann", "Ann@Globex.com", "Globex", 1200.0)), _vote("v2", _user("bob", None)),
           _vote("v3", _user("ann", "Ann@Globex.com", "Globex", 1200.0))],  # ann again, carried over by the merge
    "p2": [_vote("v9", _user("zed", "zed@x.com"))],
}


@respx.mock
def test_pages_posts_and_votes_with_key_in_body_and_one_record_per_voter(tmp_path: Path) -> None:
    canny = Canny(POSTS, VOTES)
    source = _source(tmp_path, full=True)
    out = list(source.pull({}))
    assert all(isinstance(r, Record) for r in out)
    assert [r.data["record_id"] for r in out] == ["p3:ann", "p3:bob", "p1:author"]  # type: ignore[union-attr]
    assert all(body["apiKey"] == KEY for _, body in canny.bodies)
    posts_bodies = [b for kind, b in canny.bodies if kind == "posts"]
    assert [(b["boardID"], b["sort"], b["skip"], b["limit"]) for b in posts_bodies] == [
        ("b1", "newest", 0, 2), ("b1", "newest", 2, 2)]
    p3_votes = [b for kind, b in canny.bodies if kind == "votes" and b["postID"] == "p3"]
    assert [b["skip"] for b in p3_votes] == [0, 2]
    assert not [b for kind, b in canny.bodies if kind == "votes" and b["postID"] == "p2"]  # merged away
    assert out[0].locator == "canny post p3 voter ann"  # type: ignore[union-attr]
    assert source.complete() is True
    assert source.cursor == {"newest_created": "2024-06-03T00:00:00Z", "runs_since_full": 0}


@respx.mock
def test_records_map_through_the_preset(tmp_path: Path) -> None:
    Canny(POSTS, VOTES)
    records = [r for r in _source(tmp_path, full=True).pull({}) if isinstance(r, Record)]
    mapper = build_mapper("canny", "canny", {})
    ann, bob, author = (mapper.map(r) for r in records)
    assert isinstance(ann, FeedbackItem) and isinstance(bob, FeedbackItem) and isinstance(author, FeedbackItem)
    assert ann.external_id == "p3:ann"
    assert ann.text == "Post p3\n\nDetails of p3"
    assert (ann.requester, ann.account, ann.votes, ann.epic_hint) == ("ann@globex.com", "Globex", 1, ["PROD-7"])
    assert ann.extra["mrr"] == "1200.0" and ann.extra["board"] == "Feature Requests"
    assert ann.tags == ["sso"] and ann.url == "https://acme.canny.io/feature-requests/p/p3"
    assert ann.created_at is not None and ann.created_at.isoformat() == "2024-06-02T00:00:00+00:00"
    assert (bob.requester, bob.account) == ("bob", None)
    assert (author.requester, author.epic_hint, author.external_id) == ("author@acme.com", [], "p1:author")


@respx.mock
def test_incremental_run_stops_at_the_cursor_and_full_every_forces_a_reread(tmp_path: Path) -> None:
    canny = Canny(POSTS, VOTES)
    cursor = {"newest_created": "2024-06-02T12:00:00Z", "runs_since_full": 0}
    source = _source(tmp_path, full_every=3)
    out = [r.data["record_id"] for r in source.pull(cursor) if isinstance(r, Record)]
    assert out == ["p3:ann", "p3:bob"]  # p2/p1 are older than the cursor: not read
    assert len([b for kind, b in canny.bodies if kind == "posts"]) == 1  # stopped inside page 1: no page 2
    assert source.cursor == {"newest_created": "2024-06-03T00:00:00Z", "runs_since_full": 1}
    assert source.complete() is False

    due = _source(tmp_path, full_every=3)
    assert len([r for r in due.pull({**cursor, "runs_since_full": 2}) if isinstance(r, Record)]) == 3
    assert due.cursor["runs_since_full"] == 0
    assert due.complete() is False  # a scheduled re-read is not a --full run: nothing is reconciled


@respx.mock
def test_bad_posts_and_votes_are_quarantined_not_fatal(tmp_path: Path) -> None:
    posts = [{"title": "no id"}, _post("p1", "2024-06-01T00:00:00.000Z", author=None)]
    Canny(posts, {"p1": [{"id": "v1", "voter": None}]})
    out = list(_source(tmp_path, full=True).pull({}))
    assert [type(r) for r in out] == [Quarantined, Quarantined, Quarantined]
    assert "without an id" in out[0].reason  # type: ignore[union-attr]
    assert out[1].locator == "canny post p1 vote v1"  # type: ignore[union-attr]
    assert "no author" in out[2].reason  # type: ignore[union-attr]


@respx.mock
def test_429_with_retry_after_is_retried(tmp_path: Path) -> None:
    waits: list[float] = []
    respx.post(f"{API}/boards/list").mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(200, json={"boards": []})])
    source = CannySource(CannyOptions(api_key=KEY), SourceContext("canny", tmp_path, full=True), sleep=waits.append)
    assert list(source.pull({})) == []
    assert waits == [3.0]


@respx.mock
def test_401_is_a_clear_error_without_the_key(tmp_path: Path) -> None:
    respx.post(f"{API}/boards/list").mock(return_value=httpx.Response(401, json={"error": "invalid api key"}))
    with pytest.raises(FatalAPIError) as caught:
        list(_source(tmp_path).pull({}))
    assert "401" in str(caught.value) and "invalid api key" in str(caught.value)
    assert KEY not in str(caught.value) and KEY not in repr(caught.value.body)


def test_unknown_board_is_named(tmp_path: Path) -> None:
    with respx.mock:
        respx.post(f"{API}/boards/list").mock(return_value=httpx.Response(200, json={"boards": [BOARD]}))
        with pytest.raises(LookupError, match="no board with id nope"):
            list(_source(tmp_path, board_ids=["nope"]).pull({}))
