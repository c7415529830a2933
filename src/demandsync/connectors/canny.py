"""Canny (API v1): a post is one request; its voters are its people.

Every vendor fact this module relies on, with its public source. CAJ =
edmilsonrobson/canny-api-js @ 0e4283f (its doc comments copy Canny's API
reference, https://developers.canny.io/api-reference); EV =
haydenbleasel/eververse ``packages/canny/lib/*.ts``; AB = airbytehq/airbyte
``airbyte-integrations/connectors/source-canny/manifest.yaml`` (schemas
auto-imported from live responses); TAP = immuta/tap-canny ``tap_canny/schemas``
(copies in ``shared/realdata/canny_*_schema_tap-canny.json``).

- Base ``https://canny.io/api/v1``; every call is a ``POST`` (CAJ
  ``src/lib/CannyAPI.ts``; AB ``http_method: POST``), the key travels as
  ``apiKey`` in the JSON body (AB ``inject_into: body_data``; EV).
- Errors are ``{"error": "<message>"}`` (EV ``posts.ts``/``votes.ts``); the
  shared HTTP layer quotes that message in the exception, so ``check()`` names it.
- ``boards/list`` -> ``{"boards": [...]}`` (CAJ ``Boards.ts``).
- ``posts/list`` takes ``boardID``, ``sort``, ``status``, ``limit``, ``skip``
  and answers ``{"posts": [...], "hasMore": bool}`` (CAJ ``Posts.ts``
  ``ICannyPostListArgs``/``ICannyPostListResponse``). **Without ``status`` it
  returns only "open,under review,planned,in progress"** (CAJ ``Posts.ts``:
  "Defaults to \\"open,under review,planned,in progress\\" if not specified"),
  so shipped (``complete``) posts would lose their demand. We always send
  ``status``: option ``statuses``, default open, under review, planned, in
  progress, complete (``closed`` is Canny's "won't do"; add it if you want it
  counted; custom statuses exist too, CAJ ``types.d.ts`` ``CannyPostStatus``).
- Page size 100, paged on ``hasMore`` (CAJ ``listAll`` uses 100; AB
  ``page_size: 100``); ``skip`` advances by the posts received, so a server
  cap below 100 loses nothing. A maximum is documented only for users (100).
- Post: ``id, author (user|null: null when the account was deleted), by
  (the admin who created it on someone's behalf), created, details, title,
  url, status, score, jira.linkedIssues[{id,key,url}]`` (CAJ ``ICannyPost``;
  TAP ``post.json``; AB ``schemas.posts``). ``jira.linkedIssues[].key`` become
  explicit epic links.
- ``votes/list`` takes ``postID``, ``limit``, ``skip``; answers ``{"votes",
  "hasMore"}`` (CAJ ``Votes.ts``). A vote's ``voter`` is the person the vote
  counts for; ``by`` is the admin who cast it on their behalf, null when they
  voted themselves (CAJ ``ICannyVote.by``): we count the ``voter``, never
  ``by``. The voter object carries ``id, email (nullable), name, isAdmin,
  userID`` and **no companies** (AB votes.voter; TAP ``vote.json``).
- Companies come from ``users/retrieve`` with ``id`` (EV ``users.ts``
  ``getCannyUser``), whose user has ``companies[{id, name, monthlySpend}]``
  (EV ``CannyUser``; AB ``schemas.users``). One call per distinct voter per
  run, cached; a refused lookup degrades to "no account" and is logged, it
  never fails the source (option ``companies = false`` skips the calls).
- Merges: ``mergeHistory`` on the surviving post, items ``{created, post:{id,
  …}}``, is undocumented but present in live responses (CAJ
  ``undocumented-and-inconsistencies.md``; EV ``posts.ts``
  ``CannyPost.mergeHistory``; AB posts schema). *Unconfirmed, safe default:*
  a post that some listed survivor names in its ``mergeHistory`` is skipped
  (its votes count on the survivor), and a voter is counted once per post.

People of a post: every voter (role ``voter``, weight 1; Canny's vote
``votePriority`` is not a weight) and the author (role ``author``: a
requester, and since Canny adds the author's own vote, usually a voter too).
When a post's ``by`` is set an admin typed it in for the author: the admin is
not a person of the post. Admins (``isAdmin``) who authored a post or voted
for themselves are staff, not requesters, and are left out.

Incremental: ``posts/list`` has no updated-since filter. A normal run pages
newest-first and stops at the first post older than the newest one seen last
time (the boundary post is re-read), so it picks up new posts with their
votes; votes on older posts are picked up by the full re-read every
``full_every`` runs (and on ``demandsync run --full``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, ClassVar

import httpx
from pydantic import Field, SecretStr

from demandsync.connectors.apisource import (
    ApiSource,
    ApiSourceOptions,
    Endpoint,
    Incremental,
    OnePage,
    parse_time,
    quarantine,
)
from demandsync.connectors.base import Cursor, Record, SourceOptions
from demandsync.connectors.http import BodyKeyAuth, FatalAPIError, SkipPaginator
from demandsync.domain import Quarantined

log = logging.getLogger("demandsync.canny")

DEFAULT_STATUSES = ("open", "under review", "planned", "in progress", "complete")


class CannyOptions(ApiSourceOptions):
    """``[[sources]] kind = "canny"`` keys."""

    url: str = "https://canny.io/api/v1"
    #: ``limit`` per list call: 100 is Canny's documented maximum (users/list) and what public clients use.
    page_size: int = Field(100, ge=1, le=100)
    api_key: SecretStr
    #: Read only these boards (ids); empty: every board the key sees.
    board_ids: list[str] = Field(default_factory=list)
    #: Post statuses whose demand counts (sent as posts/list ``status``).
    statuses: list[str] = Field(default_factory=lambda: list(DEFAULT_STATUSES), min_length=1)
    #: Look up each voter's company with users/retrieve (one call per distinct voter per run).
    companies: bool = True
    #: Every this-many runs, re-read all posts and votes (votes on old posts change too).
    full_every: int = Field(7, ge=1)


class CannySource(ApiSource):
    """Canny posts, one record each, with their voters. See the module docstring."""

    kind: ClassVar[str] = "canny"
    Options: ClassVar[type[SourceOptions]] = CannyOptions
    default_preset: ClassVar[str | None] = "canny"
    vendor = "Canny"

    opts: CannyOptions

    def auth(self, options: CannyOptions) -> httpx.Auth:
        return BodyKeyAuth(options.api_key)

    def check_endpoint(self) -> Endpoint:
        return Endpoint("POST", "boards/list", "boards", OnePage(), json={})

    def pull(self, cursor: Cursor) -> Iterator[Record | Quarantined]:
        # version 2: one record per post (was one per post and voter)
        state = Incremental.from_cursor(cursor, "newest_created", full=self.context.full,
                                        full_every=self.opts.full_every, version=2)
        self._companies: dict[str, str | None] = {}
        posts: list[dict[str, Any]] = []
        for board in self._boards():
            for post in self._posts(board, state.start):
                if isinstance(post, Quarantined):
                    yield post
                    continue
                state.observe(parse_time(post.get("created")))
                posts.append({**post, "board": post.get("board") or board})
        absorbed = _merged_away(posts)
        seen: set[str] = set()
        for post in posts:
            post_id = str(post["id"])
            if post_id in absorbed or post_id in seen:
                continue  # folded into its survivor, or listed on two boards
            seen.add(post_id)
            try:
                record = self._record(post)
            except (TypeError, AttributeError, KeyError, ValueError) as exc:  # a malformed post costs itself only
                yield quarantine(self.context.name, f"canny post {post_id}",
                                 f"Canny returned a post this connector cannot read ({type(exc).__name__}: {exc})", post)
                continue
            yield record
        self.cursor = state.cursor()
        self.read_everything = state.full

    # -- reading ------------------------------------------------------------------

    def _boards(self) -> list[dict[str, Any]]:
        # through read(): an answer without "boards" (e.g. {"error": …} with a 200) raises, never "no boards"
        boards = [b for b in self.read(self.check_endpoint(), "canny board") if isinstance(b, dict) and b.get("id")]
        if self.opts.board_ids:
            wanted = set(self.opts.board_ids)
            missing = wanted - {str(b["id"]) for b in boards}
            if missing:
                raise LookupError(f"Canny has no board with id {', '.join(sorted(missing))} for this API key; "
                                  "check board_ids in the config")
            boards = [b for b in boards if str(b["id"]) in wanted]
        return boards

    def _posts(self, board: Mapping[str, Any], since: datetime | None) -> Iterator[dict[str, Any] | Quarantined]:
        endpoint = Endpoint("POST", "posts/list", "posts",
                            SkipPaginator(limit=self.opts.page_size, items_key="posts"),
                            json={"boardID": board["id"], "sort": "newest", "status": ",".join(self.opts.statuses)})
        for post in self.read(endpoint, f"canny board {board['id']} post"):
            if isinstance(post, Quarantined):
                yield post
                continue
            if not post.get("id"):
                yield quarantine(self.context.name, f"canny board {board['id']} post ?",
                                 "Canny returned a post without an id", post)
                continue
            created = parse_time(post.get("created"))
            if since is not None and created is not None and created < since:
                return  # newest-first: everything after this was read before (the boundary is re-read)
            yield post

    def _record(self, post: dict[str, Any]) -> Record | Quarantined:
        post_id = str(post["id"])
        people: dict[str, dict[str, Any]] = {}
        author = post.get("author") if isinstance(post.get("author"), dict) else None
        if author and author.get("id") and not author.get("isAdmin"):
            people[str(author["id"])] = self._person(author, "author")
        endpoint = Endpoint("POST", "votes/list", "votes", SkipPaginator(limit=self.opts.page_size, items_key="votes"),
                            json={"postID": post_id})
        for vote in self.read(endpoint, f"canny post {post_id} vote"):
            if isinstance(vote, Quarantined):
                return vote
            voter = vote.get("voter")
            if not isinstance(voter, dict) or not voter.get("id"):
                return quarantine(self.context.name, f"canny post {post_id} vote {vote.get('id', '?')}",
                                  "Canny returned a vote without a voter id, so this post's voters are unknown", vote)
            if voter.get("isAdmin") and not vote.get("by"):
                continue  # staff voting for themselves: not a customer
            people[str(voter["id"])] = self._person(voter, "voter")
        data = {
            **post,
            "record_id": post_id,
            "people": list(people.values()),
            "requested_at": post.get("created"),
            "epic_keys": _linked_issue_keys(post),
        }
        return Record(data=data, locator=f"canny post {post_id}")

    def _person(self, user: Mapping[str, Any], role: str) -> dict[str, Any]:
        return {"id": str(user["id"]), "email": user.get("email"), "name": user.get("name"),
                "account": self._company(str(user["id"])), "role": role, "weight": 1 if role == "voter" else 0}

    def _company(self, user_id: str) -> str | None:
        """The first company of a Canny user (users/retrieve), cached per run; None when unknown."""
        if not self.opts.companies:
            return None
        if user_id not in self._companies:
            name = None
            try:
                user = self.client.request_json("POST", "users/retrieve", json={"id": user_id}) or {}
            except FatalAPIError as exc:
                log.warning("%s: no company for Canny user %s (%s); counting them without an account",
                            self.context.name, user_id, exc)
                user = {}
            companies = user.get("companies") if isinstance(user, dict) else None
            for company in companies or []:
                if isinstance(company, dict) and company.get("name"):
                    name = str(company["name"])
                    break
            self._companies[user_id] = name
        return self._companies[user_id]


def _merged_away(posts: list[dict[str, Any]]) -> set[str]:
    """Ids of posts some surviving post lists in its (undocumented) ``mergeHistory``."""
    ids: set[str] = set()
    for post in posts:
        history = post.get("mergeHistory")
        for entry in history if isinstance(history, list) else []:
            merged = entry.get("post") if isinstance(entry, dict) else None
            if isinstance(merged, dict) and merged.get("id"):
                ids.add(str(merged["id"]))
    return ids


def _linked_issue_keys(post: Mapping[str, Any]) -> list[str]:
    jira: Mapping[str, Any] = post["jira"] if isinstance(post.get("jira"), dict) else {}
    keys = [str(i["key"]) for i in jira.get("linkedIssues") or [] if isinstance(i, dict) and i.get("key")]
    return list(dict.fromkeys(keys))
