"""Aha! Ideas as a feedback source: one idea is one request, its voters are its requesters.

Calls (facts from Aha!'s OpenAPI document, https://www.aha.io/openapi.json (copy: cedricziel/aha-js `openapi.json` @ b571636), paths as
``P[path].method``; research notes: aha.md §6):

- ``GET /products/{product_id}/ideas`` paged by ``page``/``per_page`` with the
  ``pagination`` object, asking with ``fields=`` for what the compact list leaves out
  (the list item is ``{id, name, product_id, votes}``: ``P["/products/{product_id}/ideas"].get``
  example). ``updated_since`` ("only ideas updated or created after the timestamp") makes
  a normal run incremental; spam ideas are not listed unless ``spam=true`` is sent
  ("By default, no spam ideas will be shown": https://www.aha.io/api/resources/ideas/list_ideas_for_a_product).
- ``GET /ideas/{idea_id}/endorsements``: the votes. "Idea votes" in the web interface are
  "idea endorsements" in the API (``P["/ideas/{idea_id}/endorsements/{id}"].get.description``).
  Each has ``endorsed_by_portal_user``/``endorsed_by_idea_user`` ``{id, name, email}``, a
  ``weight`` and, for votes on behalf of a customer (proxy votes), an
  ``idea_organization {id, name}`` that is absent otherwise
  (``P["/ideas/{idea_id}/endorsements"].get`` example, ``P["/ideas/endorsements"].get``
  example ``[1]``). The creator's own vote is one of them. Ideas whose
  ``endorsements_count`` is 0 are not asked (one request saved per idea).
- ``GET /ideas/endorsements``: every vote of the account, each with its ``idea_id``
  (``P["/ideas/endorsements"].get`` example). When its first page says it has fewer pages
  than there are ideas to ask, the votes are read from it instead: a full read of 1,000
  ideas with 3 votes each costs 16 requests instead of 1,000 (bench/aha.py).
- ``GET /products/{product_id}/features?fields=reference_num,epic``: which epic each
  feature belongs to (``epic`` on ``P["/features/{id}"].get`` example), read once per pull
  when an idea was promoted to a feature.

One record per idea (identity: the idea's id, a string, sometimes 19 digits):

- ``voters``: ``[{id, email, name, account, weight}]``, one per endorsement (a person
  who voted twice where the portal allows it is there twice: two votes); ``votes_total``
  is the number of endorsements.
- ``creator``: ``created_by_idea_user`` / ``created_by_portal_user`` / ``created_by_user``
  (``P["/ideas/{id}"].get`` and ``.put`` examples); ``creator_account``: the organisation
  of the creator's own vote, if any.
- ``epic_keys``: the feature an idea was promoted to (``feature.reference_num``,
  ``P["/ideas/{id}"].get`` example), that feature's epic (so the idea counts whether the
  figures live on features or on epics), and an ``epic``/``initiative`` reference if present
  (promotion targets are documented write-side only: https://www.aha.io/api/resources/ideas/un-promote_an_idea_from_an_initiative).
- Merged ideas are no request of their own: the survivor lists them in ``duplicates[]``
  (``P["/ideas/{id}"].get`` example), and an idea carrying ``duplicate_idea`` /
  ``duplicate_of`` (the write-side name and the issue's name; no read-side field is
  documented) is skipped too. So are ideas with ``spam: true`` if a server lists them.

``initial_votes`` (votes an admin typed in, ``P["/ideas/{id}"].get`` example: ``votes =
initial_votes + endorsements``) are not people and are not counted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
from pydantic import Field, SecretStr

from demandsync.connectors.aha.render import html_to_text
from demandsync.connectors.aha.tracker import account_limiter
from demandsync.connectors.apisource import ApiSource, ApiSourceOptions, Endpoint, iso, parse_time, quarantine
from demandsync.connectors.base import Cursor, Record, SourceContext, SourceOptions
from demandsync.connectors.http import BearerAuth, FatalAPIError, iter_items
from demandsync.connectors.http.paginators import PageNumberPaginator, paginate
from demandsync.domain import Quarantined

log = logging.getLogger("demandsync.aha")

#: How far back of this run's start the next run's ``updated_since`` reaches.
OVERLAP = timedelta(minutes=10)
#: What a record needs from each idea (the list is compact without ``fields=``): attributes the
#: idea object has in the OpenAPI examples (``P["/ideas/{id}"].get`` and ``.put``).
IDEA_FIELDS = ("id", "reference_num", "name", "description", "created_at", "updated_at", "url", "tags",
               "workflow_status", "feature", "duplicates", "endorsements_count", "votes", "created_by_idea_user",
               "created_by_portal_user", "created_by_user", "categories")
#: Asked for too, though only documented write-side (promotion targets, merge parent, spam flag). If
#: Aha! refuses the list because of them (400/422), the list is asked again without them.
UNDOCUMENTED_FIELDS = ("epic", "initiative", "duplicate_idea", "duplicate_of", "spam")


class AhaIdeasOptions(ApiSourceOptions):
    """``[[sources]] kind = "aha_ideas"`` keys. ``url``, ``api_key``, ``product`` and
    ``allow_insecure_http`` default to the ``[aha]`` tracker's (see ``config.py``)."""

    url: str
    api_key: SecretStr
    #: The product whose ideas are read: reference prefix (APP) or id.
    product: str
    #: ``per_page``; its maximum is UNCONFIRMED (the OpenAPI examples use 30; the third-party
    #: cedricziel.github.io/aha-spec says 1..200): 200 is the cap allowed, 100 the default.
    page_size: int = Field(100, ge=1, le=200)
    #: Every this-many runs, re-read every idea and its votes (votes need not touch ``updated_at``).
    full_every: int = Field(7, ge=1)
    #: Pacing under Aha!'s per-account limits, shared with the [aha] tracker in the same process.
    requests_per_second: int = Field(15, ge=1, le=20)
    requests_per_minute: int = Field(250, ge=1, le=300)


class AhaIdeasSource(ApiSource):
    """Aha! ideas and their votes. See the module docstring for calls and counting rules."""

    kind: ClassVar[str] = "aha_ideas"
    Options: ClassVar[type[SourceOptions]] = AhaIdeasOptions
    default_preset: ClassVar[str | None] = "aha-ideas"
    #: Keys a ``[[sources]]`` table of this kind takes from the ``[aha]`` section when it omits them.
    tracker_defaults: ClassVar[tuple[str, tuple[str, ...]]] = ("aha", (
        "url", "api_key", "product", "allow_insecure_http", "requests_per_second", "requests_per_minute"))

    opts: AhaIdeasOptions

    def __init__(self, options: SourceOptions, context: SourceContext, **client_kwargs: Any) -> None:
        assert isinstance(options, AhaIdeasOptions)
        site = options.url.rstrip("/").removesuffix("/api/v1")
        client_kwargs.setdefault("rate_limiter", account_limiter(site, options.requests_per_second,
                                                                 options.requests_per_minute))
        super().__init__(options.model_copy(update={"url": site + "/api/v1"}), context, **client_kwargs)

    def auth(self, options: AhaIdeasOptions) -> httpx.Auth:
        return BearerAuth(options.api_key)

    vendor = "Aha!"

    def check_endpoint(self) -> Endpoint:
        """The product's first page of ideas (``GET /products/{product_id}/ideas``, one idea)."""
        return Endpoint("GET", f"products/{quote(self.opts.product, safe='')}/ideas", "ideas",
                        PageNumberPaginator(per_page=1, items_key="ideas"), params={"fields": "id"})

    def pull(self, cursor: Cursor) -> Iterator[Record | Quarantined]:
        runs = cursor.get("runs_since_full") if isinstance(cursor, Mapping) else None
        runs = runs if isinstance(runs, int) and runs >= 0 else 0
        since = parse_time((cursor or {}).get("updated_since"))
        full = self.context.full or since is None or runs + 1 >= self.opts.full_every
        started = datetime.now(UTC) - OVERLAP  # clocks differ: re-read a little (upserts make it harmless)
        ideas: list[dict[str, Any]] = []
        for idea in self._ideas(None if full else since):
            if not isinstance(idea, dict) or not idea.get("id"):
                yield quarantine(self.context.name, "aha idea ?", "Aha! listed an idea without an id", idea)
                continue
            ideas.append(idea)
        merged = {str(d.get("id")) for i in ideas for d in i.get("duplicates") or [] if isinstance(d, dict)}
        requests = []
        for idea in ideas:
            why = _not_a_request(idea, merged)
            if why:
                log.debug("%s: idea %s skipped: %s", self.context.name, idea.get("reference_num") or idea["id"], why)
                continue
            requests.append(idea)
        voted = {str(i["id"]) for i in requests if i.get("endorsements_count") != 0}
        votes = self._account_votes(voted) if len(voted) > 1 else None
        epic_of = self._feature_epics() if any(_ref(i.get("feature")) for i in requests) else {}
        for idea in requests:
            yield from self._record(idea, None if votes is None else votes.get(str(idea["id"]), []), epic_of)
        self.cursor = {"updated_since": iso(started), "runs_since_full": 0 if full else runs + 1}
        # A full read (the first run, every full_every-th, --full) saw every idea: ideas deleted,
        # merged or marked spam upstream since then stop counting (ApiSource.complete).
        self.read_everything = full

    def _ideas(self, since: datetime | None) -> Iterator[Any]:
        params: dict[str, Any] = {"fields": ",".join((*IDEA_FIELDS, *UNDOCUMENTED_FIELDS))}
        if since is not None:
            params["updated_since"] = iso(since)
        path = f"products/{quote(self.opts.product, safe='')}/ideas"
        pages = PageNumberPaginator(per_page=self.opts.page_size, items_key="ideas")
        started = False
        try:
            for idea in iter_items(self.client, "GET", path, pages, items_key="ideas", params=params):
                started = True
                yield idea
        except FatalAPIError as exc:
            if started or exc.status not in (400, 422):
                raise
            log.warning("%s: Aha! refused the idea fields %s (HTTP %s); reading ideas without them",
                        self.context.name, ", ".join(UNDOCUMENTED_FIELDS), exc.status)
            params["fields"] = ",".join(IDEA_FIELDS)
            yield from iter_items(self.client, "GET", path, pages, items_key="ideas", params=params)

    def _account_votes(self, wanted: set[str]) -> dict[str, list[Any]] | None:
        """Every vote of the ``wanted`` ideas from the account-wide list (``GET /ideas/endorsements``,
        whose items carry ``idea_id``: ``P["/ideas/endorsements"].get`` example), when that list has
        fewer pages than there are ideas to ask one by one; else None (ask per idea)."""
        pages = PageNumberPaginator(per_page=self.opts.page_size, items_key="idea_endorsements")
        out: dict[str, list[Any]] = {}
        for n, page in enumerate(paginate(self.client, "GET", "ideas/endorsements", pages)):
            total = (page.get("pagination") or {}).get("total_pages") if isinstance(page.get("pagination"), dict) \
                else None
            if n == 0 and (not isinstance(total, int) or total >= len(wanted)):
                return None  # one request per idea is cheaper (or the count is unknown)
            for vote in page.get("idea_endorsements") or []:
                if isinstance(vote, dict) and str(vote.get("idea_id")) in wanted:
                    out.setdefault(str(vote["idea_id"]), []).append(vote)
        return out

    def _feature_epics(self) -> dict[str, str]:
        """Feature reference -> its epic's reference (``epic.reference_num`` of a feature,
        ``P["/features/{id}"].get`` example), so an idea promoted to a feature also names the
        feature's epic: the record that counts when ``[aha] records = "epics"``."""
        pages = PageNumberPaginator(per_page=self.opts.page_size, items_key="features")
        out = {}
        for feature in iter_items(self.client, "GET", f"products/{quote(self.opts.product, safe='')}/features",
                                  pages, items_key="features", params={"fields": "reference_num,epic"}):
            if isinstance(feature, dict) and (ref := _ref(feature)) and (epic := _ref(feature.get("epic"))):
                out[ref] = epic
        return out

    def _record(self, idea: dict[str, Any], votes: list[Any] | None,
                epic_of: Mapping[str, str]) -> Iterator[Record | Quarantined]:
        idea_id = str(idea["id"])
        where = f"aha idea {idea.get('reference_num') or idea_id}"
        voters: list[dict[str, Any]] = []
        if votes is None and idea.get("endorsements_count") != 0:
            pages = PageNumberPaginator(per_page=self.opts.page_size, items_key="idea_endorsements")
            votes = list(iter_items(self.client, "GET", f"ideas/{quote(idea_id, safe='')}/endorsements", pages,
                                    items_key="idea_endorsements"))
        for vote in votes or []:
            voter = _voter(vote)
            if voter is None:
                vote_id = vote.get("id", "?") if isinstance(vote, dict) else "?"
                yield quarantine(self.context.name, f"{where} vote {vote_id}",
                                 "Aha! returned a vote without a portal user, idea user or e-mail", vote)
                continue
            voters.append(voter)
        creator = _creator(idea)
        mine = next((v for v in voters if creator and _same_person(v, creator)), None)
        description = idea.get("description")
        body = description.get("body") if isinstance(description, dict) else description
        data = {
            **idea,
            "id": idea_id,
            "description_text": html_to_text(body if isinstance(body, str) else None),
            "voters": voters,
            "votes_total": len(voters),
            "people": _people(voters, creator),
            "creator": creator or {},
            "creator_account": (mine or {}).get("account"),
            "epic_keys": _promoted_to(idea, epic_of),
            "tag_names": [t for t in idea.get("tags") or [] if isinstance(t, str)],
        }
        yield Record(data=data, locator=where)


def _not_a_request(idea: Mapping[str, Any], merged: set[str]) -> str | None:
    """Why an idea is not a request of its own (merged into another, spam), or None."""
    if str(idea.get("id")) in merged:
        return "merged into another idea (listed in its duplicates)"
    for key in ("duplicate_idea", "duplicate_of"):
        if idea.get(key):
            return f"merged into another idea ({key})"
    if idea.get("spam") is True:
        return "marked as spam"
    return None


def _person(user: Any) -> dict[str, Any] | None:
    if not isinstance(user, dict):
        return None
    email = str(user.get("email") or "").strip().lower()
    uid = str(user.get("id") or "").strip()
    if not (email or uid):
        return None
    return {"id": uid or None, "email": email or None, "name": user.get("name") or None}


def _voter(vote: Any) -> dict[str, Any] | None:
    """``{id, email, name, account, weight}`` of one endorsement, or None without a person."""
    if not isinstance(vote, dict):
        return None
    person = _person(vote.get("endorsed_by_idea_user")) or _person(vote.get("endorsed_by_portal_user"))
    if person is None:
        return None
    org = vote.get("idea_organization")
    account = (org.get("name") or org.get("id")) if isinstance(org, dict) else None
    weight = vote.get("weight")
    return {**person, "account": str(account) if account else None,
            "weight": weight if isinstance(weight, int) and weight > 0 else 1}


def _people(voters: list[dict[str, Any]], creator: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The idea's people (``domain.Person`` dicts): one voter per person, their endorsements'
    weights summed (a portal that allows two votes each gives two), and the creator as an author
    when they did not vote (the issue: "the creator's own vote is one of them" when they voted)."""
    people: dict[str, dict[str, Any]] = {}
    for v in voters:
        key = str(v.get("email") or v.get("id"))
        if key in people:
            people[key]["weight"] += v["weight"]
            people[key]["account"] = people[key]["account"] or v.get("account")
        else:
            people[key] = {**v, "role": "voter"}
    if creator and not any(_same_person(v, creator) for v in voters):
        people[str(creator.get("email") or creator.get("id"))] = {**creator, "account": None, "weight": 0,
                                                                  "role": "author"}
    return list(people.values())


def _creator(idea: Mapping[str, Any]) -> dict[str, Any] | None:
    for key in ("created_by_idea_user", "created_by_portal_user", "created_by_user"):
        if (person := _person(idea.get(key))) is not None:
            return person
    return None


def _same_person(voter: Mapping[str, Any], creator: Mapping[str, Any]) -> bool:
    if voter.get("email") and voter.get("email") == creator.get("email"):
        return True
    return bool(voter.get("id")) and voter.get("id") == creator.get("id")


def _ref(record: Any) -> str | None:
    return str(record["reference_num"]) if isinstance(record, dict) and record.get("reference_num") else None


def _promoted_to(idea: Mapping[str, Any], epic_of: Mapping[str, str]) -> list[str]:
    """References of the feature (and its epic), epic or initiative the idea was promoted to."""
    keys = [ref for key in ("feature", "epic", "initiative") if (ref := _ref(idea.get(key)))]
    feature = _ref(idea.get("feature"))
    if feature and feature in epic_of:
        keys.insert(1, epic_of[feature])
    return list(dict.fromkeys(keys))
