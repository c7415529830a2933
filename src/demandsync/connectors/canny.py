"""Canny (API v1): every voter on a post is one requester.

Calls (all ``POST``, JSON body, ``apiKey`` added to the body by :class:`BodyKeyAuth`):

- ``boards/list``: board names, and which boards to read;
- ``posts/list`` per board, ``sort = "newest"``, paged by ``skip``/``limit``/``hasMore``;
- ``votes/list`` per post, same paging: each vote's ``voter`` (email, id, companies).

One record per (post, voter), identity ``<post id>:<voter id>``; a post nobody
voted on yields one record for its author. ``jira.linkedIssues[].key`` become
``epic_keys`` (explicit links).

**Merges.** Canny does not document merges in its API reference (checked
2026-10); ``mergeHistory`` is an undocumented array on the *surviving* post,
each entry naming an absorbed post as ``{"post": {"id": …}}`` (seen in public
client type definitions, not in Canny's docs). Canny moves the absorbed post's
votes onto the survivor, so we skip any post some survivor lists as merged and
count each voter once per post.

**Incremental.** ``posts/list`` has no updated-since filter. A normal run pages
newest-first and stops at the first post older than the newest one seen last
time, so it picks up *new posts* (with their votes) only; votes cast on older
posts are missed until the next full re-read, which happens every
``full_every`` runs (and on ``demandsync run --full``). That bounds staleness
to ``full_every`` runs at the cost of one full read per cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import httpx
from pydantic import Field, SecretStr

from demandsync.connectors.apisource import ApiSource, ApiSourceOptions, iso, parse_time, quarantine
from demandsync.connectors.base import Cursor, Record, SourceOptions
from demandsync.connectors.http import BodyKeyAuth, SkipPaginator, iter_items
from demandsync.domain import Quarantined

log = logging.getLogger("demandsync.canny")


class CannyOptions(ApiSourceOptions):
    """``[[sources]] kind = "canny"`` keys."""

    url: str = "https://canny.io/api/v1"
    #: ``limit`` per list call: 100 is Canny's documented maximum (users/list) and what public clients use.
    page_size: int = Field(100, ge=1, le=100)
    api_key: SecretStr
    #: Read only these boards (ids); empty: every board the key sees.
    board_ids: list[str] = Field(default_factory=list)
    #: Every this-many runs, re-read all posts and votes (votes on old posts change too).
    full_every: int = Field(7, ge=1)


@dataclass(slots=True)
class _Plan:
    """What this run reads: all posts (``since`` None), or only those created from ``since`` on."""

    since: datetime | None
    runs_since_full: int

    @property
    def full(self) -> bool:
        return self.since is None


class CannySource(ApiSource):
    """Canny posts and their voters. See the module docstring for calls, merges and the cursor."""

    kind: ClassVar[str] = "canny"
    Options: ClassVar[type[SourceOptions]] = CannyOptions
    default_preset: ClassVar[str | None] = "canny"

    opts: CannyOptions

    def auth(self, options: CannyOptions) -> httpx.Auth:
        return BodyKeyAuth(options.api_key)

    def pull(self, cursor: Cursor) -> Iterator[Record | Quarantined]:
        plan = self._plan(cursor)
        boards = self._boards()
        posts: list[dict[str, Any]] = []
        newest: datetime | None = plan.since
        for board in boards:
            for post in self._posts(board, plan.since):
                if not isinstance(post, dict) or not post.get("id"):
                    yield quarantine(self.context.name, f"canny board {board.get('id')} post ?",
                                     "Canny returned a post without an id", post)
                    continue
                created = parse_time(post.get("created"))
                if created and (newest is None or created > newest):
                    newest = created
                posts.append({**post, "board": post.get("board") or board})
        absorbed = _merged_away(posts)
        for post in posts:
            if str(post["id"]) in absorbed:
                log.debug("%s: skipping post %s, merged into another post", self.context.name, post["id"])
                continue
            try:
                yield from self._records(post)
            except (TypeError, AttributeError, KeyError, ValueError) as exc:  # a malformed post costs itself only
                yield quarantine(self.context.name, f"canny post {post['id']}",
                                 f"Canny returned a post this connector cannot read ({type(exc).__name__}: {exc})", post)
        self.cursor = {"newest_created": iso(newest) if newest else None,
                       "runs_since_full": 0 if plan.full else plan.runs_since_full + 1}

    # -- reading ------------------------------------------------------------------

    def _plan(self, cursor: Cursor) -> _Plan:
        runs = cursor.get("runs_since_full") if isinstance(cursor, Mapping) else None
        runs = runs if isinstance(runs, int) and runs >= 0 else 0
        since = parse_time((cursor or {}).get("newest_created"))
        if self.context.full or since is None or runs + 1 >= self.opts.full_every:
            return _Plan(None, runs)
        return _Plan(since, runs)

    def _boards(self) -> list[dict[str, Any]]:
        body = self.client.request_json("POST", "boards/list", json={}) or {}
        boards = [b for b in body.get("boards") or [] if isinstance(b, dict) and b.get("id")]
        if self.opts.board_ids:
            wanted = set(self.opts.board_ids)
            missing = wanted - {str(b["id"]) for b in boards}
            if missing:
                raise LookupError(f"Canny has no board with id {', '.join(sorted(missing))} for this API key; "
                                  "check board_ids in the config")
            boards = [b for b in boards if str(b["id"]) in wanted]
        return boards

    def _posts(self, board: Mapping[str, Any], since: datetime | None) -> Iterator[Any]:
        pages = SkipPaginator(limit=self.opts.page_size)
        for post in iter_items(self.client, "POST", "posts/list", pages, items_key="posts",
                               json={"boardID": board["id"], "sort": "newest"}):
            created = parse_time(post.get("created")) if isinstance(post, dict) else None
            if since is not None and created is not None and created < since:
                return  # newest-first: everything after this was read before (the boundary is re-read)
            yield post

    def _records(self, post: dict[str, Any]) -> Iterator[Record | Quarantined]:
        post_id = str(post["id"])
        seen: set[str] = set()
        pages = SkipPaginator(limit=self.opts.page_size)
        for vote in iter_items(self.client, "POST", "votes/list", pages, items_key="votes", json={"postID": post_id}):
            voter = vote.get("voter") if isinstance(vote, dict) else None
            if not isinstance(voter, dict) or not voter.get("id"):
                vote_id = vote.get("id", "?") if isinstance(vote, dict) else "?"
                yield quarantine(self.context.name, f"canny post {post_id} vote {vote_id}",
                                 "Canny returned a vote without a voter id", vote)
                continue
            if str(voter["id"]) in seen:
                continue  # the same person counted once per post (merged duplicates carry their votes over)
            seen.add(str(voter["id"]))
            yield self._record(post, voter, vote.get("created"))
        if not seen:
            author = post.get("author")
            if isinstance(author, dict) and author.get("id"):
                yield self._record(post, author, post.get("created"))
            else:
                yield quarantine(self.context.name, f"canny post {post_id}",
                                 "post has no votes and no author (deleted account), so no requester", post)

    def _record(self, post: Mapping[str, Any], person: Mapping[str, Any], when: Any) -> Record:
        found = person.get("companies")
        companies = [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []
        data = {
            **post,
            "record_id": f"{post['id']}:{person['id']}",
            "voter": dict(person),
            "company": companies[0] if companies else {},
            "requested_at": when or post.get("created"),
            "epic_keys": _linked_issue_keys(post),
        }
        return Record(data=data, locator=f"canny post {post['id']} voter {person['id']}")


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
    jira = post.get("jira") if isinstance(post.get("jira"), dict) else {}
    keys = [str(i["key"]) for i in jira.get("linkedIssues") or [] if isinstance(i, dict) and i.get("key")]
    return list(dict.fromkeys(keys))
