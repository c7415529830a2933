"""Pendo Feedback (formerly Receptive): a feature is one request; the users
interested in it are its voters.

Every vendor fact below is from Pendo Feedback's official Swagger 2.0 spec
(``x-origin: http://apidoc.receptive.io/receptive.swagger.json``), as copied in
APIs-guru/openapi-directory ``APIs/pendo.io/1.0.0/swagger.yaml`` @ 01967bf:

- Hosts ``https://api.feedback.us.pendo.io`` / ``https://api.feedback.eu.pendo.io``
  by data centre (description §Endpoint); the key goes in the ``auth-token``
  request header ("preferred"; ``securityDefinitions``).
- ``GET /features`` answers a **bare array** of Feature; query ``limit``,
  ``start`` (offset), ``order_by`` (``created_at`` …), ``order_dir``
  (``paths./features.get``). We sort by ``created_at`` ascending so offsets
  stay stable while we page. No maximum ``limit``, total or next link is
  documented, so paging stops only at an *empty* page (a short page may be a
  server cap).
- Feature fields used: ``id``, ``title``, ``description``, ``status``,
  ``created_at``, ``app_url`` ("URL for this Feature"), ``tags`` (strings, or
  ``{Category: Value}`` maps, ``definitions.Tags``), and
  ``merged_to_feature_id`` ("If this Feature was merged into another, the ID
  of the preserved Feature"). **A Feature has no vote count and no Jira
  field** (``definitions.Feature``): demand comes from votes, and Jira keys
  only from the feature's tags (e.g. a tag ``PROD-7``; option ``jira_from``).
- ``GET /votes?feature_id=&start=&limit=`` answers a bare array of Vote
  ``{user_id, feature_id, quantity, created_at, updated_at}``
  (``paths./votes.get``, ``definitions.Vote``). ``quantity``: "A negative
  number indicates that the User has indicated "Not Interested" in a
  Features. Between 0 and 1000000 is the User's current prioritization": a
  negative quantity **never counts**; filtering happens here, not with the
  ``positive`` parameter (whether it includes 0 is not documented).
- ``GET /users/{id}`` answers ``User {id, email, name, external_id, roles,
  account: UserAccount {id, name, monthly_value, status}}``, or **410 "User has
  been deleted"** (``paths./users/{id}.get``). A deleted user still counts as a
  voter, by id only. *Unconfirmed*: a **404** for a user is not documented for
  this path (the spec documents 404 only for tag paths: "Account not found",
  "Feature not found"); since ``/votes`` on the same host just named the user,
  we read it as "gone" like 410 and count the vote by id (no account), logged
  at warning level so a wave of them is visible. ``Vote.user_id`` is an integer and ``User.id`` a string,
  so ids are compared as strings.

Counting (README "How it counts"): every interested user (``quantity >= 0``)
is one voter of the feature, weight 1. Option ``vote_weight = "quantity"``
counts a user's prioritisation as their votes instead (*unconfirmed* that
these are comparable across users, hence not the default). A feature merged
into another folds its voters into the surviving feature, each person once;
the merged feature is no request of its own. If the survivor is not in the
list (private, deleted) the merged feature stands for itself.

Incremental: no updated-since filter is documented, so every run reads
everything (the cursor stays empty) and unchanged features are no-ops in the store.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field, SecretStr

from demandsync.connectors.apisource import ApiSource, ApiSourceOptions, Endpoint, quarantine
from demandsync.connectors.base import Cursor, Record, SourceOptions
from demandsync.connectors.http import FatalAPIError, HeaderKeyAuth
from demandsync.connectors.http.paginators import ListOffsetPaginator
from demandsync.domain import Quarantined
from demandsync.keys import keys_in

log = logging.getLogger("demandsync.pendo_feedback")


class PendoFeedbackOptions(ApiSourceOptions):
    """``[[sources]] kind = "pendo_feedback"`` keys."""

    url: str = "https://api.feedback.us.pendo.io"
    api_key: SecretStr
    #: ``one``: each interested user is one vote; ``quantity``: their prioritisation is their votes.
    vote_weight: Literal["one", "quantity"] = "one"
    #: Feature fields searched for Jira keys (the API has no Jira field).
    jira_from: list[str] = Field(default_factory=lambda: ["tags"])


class PendoFeedbackSource(ApiSource):
    """One record per surviving feature, with its interested users as voters."""

    kind: ClassVar[str] = "pendo_feedback"
    Options: ClassVar[type[SourceOptions]] = PendoFeedbackOptions
    default_preset: ClassVar[str | None] = "pendo-feedback"
    vendor = "Pendo Feedback"

    opts: PendoFeedbackOptions

    def auth(self, options: PendoFeedbackOptions) -> httpx.Auth:
        return HeaderKeyAuth("auth-token", options.api_key)

    def check_endpoint(self) -> Endpoint:
        return Endpoint("GET", "features", None, ListOffsetPaginator(limit=1))

    def pull(self, cursor: Cursor) -> Iterator[Record | Quarantined]:
        self._users: dict[str, dict[str, Any] | None] = {}
        features: dict[str, dict[str, Any]] = {}
        endpoint = Endpoint("GET", "features", None, ListOffsetPaginator(limit=self.opts.page_size),
                            params={"order_by": "created_at", "order_dir": "asc"})
        for feature in self.read(endpoint, "pendo feedback feature"):
            if isinstance(feature, Quarantined):
                yield feature
                continue
            if feature.get("id") is None or not feature.get("title"):
                yield quarantine(self.context.name, f"pendo feedback feature {feature.get('id', '?')}",
                                 "Pendo Feedback returned a feature without an id or title", feature)
                continue
            features.setdefault(str(feature["id"]), feature)
        folded: dict[str, list[str]] = {fid: [fid] for fid in features}
        for fid in features:
            survivor = _survivor(fid, features)
            if survivor != fid:
                folded[survivor].append(fid)
                del folded[fid]
        for fid, members in folded.items():
            yield self._record(features[fid], members)
        self.cursor = {}  # no updated-since filter is documented: every run is a full read

    def complete(self) -> bool:
        return True  # every run reads every feature

    def _record(self, feature: dict[str, Any], members: list[str]) -> Record | Quarantined:
        people: dict[str, dict[str, Any]] = {}
        for fid in members:
            endpoint = Endpoint("GET", "votes", None, ListOffsetPaginator(limit=self.opts.page_size),
                                params={"feature_id": fid})
            for vote in self.read(endpoint, f"pendo feedback feature {fid} vote"):
                if isinstance(vote, Quarantined):
                    return vote
                quantity = vote.get("quantity")
                if vote.get("user_id") is None or type(quantity) is not int:
                    return quarantine(self.context.name, f"pendo feedback feature {fid} vote",
                                      "a vote without a user_id or an integer quantity, so this feature's voters "
                                      "are unknown", vote)
                if quantity < 0:
                    continue  # "Not Interested": never counts
                uid = str(vote["user_id"])
                weight = quantity if self.opts.vote_weight == "quantity" else 1
                if uid in people:
                    people[uid]["weight"] = max(people[uid]["weight"], weight)  # once per request
                else:
                    people[uid] = self._person(uid, weight)
        fid = str(feature["id"])
        data = {
            **feature,
            "record_id": fid,
            "people": list(people.values()),
            "merged_ids": members[1:],
            "tag_names": _tags(feature.get("tags")),
            "epic_keys": keys_in(_text(feature.get(f)) for f in self.opts.jira_from),
        }
        return Record(data=data, locator=f"pendo feedback feature {fid}")

    def _person(self, uid: str, weight: int) -> dict[str, Any]:
        user = self._user(uid)
        account: dict[str, Any] = user["account"] if user and isinstance(user.get("account"), dict) else {}
        return {"id": uid, "email": (user or {}).get("email"), "name": (user or {}).get("name"),
                "account": account.get("name"), "weight": weight, "role": "voter"}

    def _user(self, uid: str) -> dict[str, Any] | None:
        """``GET /users/{id}``, cached; None for a deleted user (410) who still counts by id."""
        if uid not in self._users:
            try:
                body = self.client.request_json("GET", f"users/{uid}")
            except FatalAPIError as exc:
                if exc.status not in (404, 410):
                    raise
                level = logging.INFO if exc.status == 410 else logging.WARNING  # 404: undocumented here
                log.log(level, "%s: Pendo Feedback user %s is deleted (HTTP %s); counting them by id",
                        self.context.name, uid, exc.status)
                body = None
            self._users[uid] = body if isinstance(body, dict) else None
        return self._users[uid]


def _survivor(fid: str, features: Mapping[str, Mapping[str, Any]]) -> str:
    """The feature ``fid`` was merged into, following chains; itself when not merged, when the
    survivor is not listed, or on a cycle."""
    seen = {fid}
    current = fid
    while True:
        target = features[current].get("merged_to_feature_id")
        if target is None or str(target) not in features or str(target) in seen:
            return current
        current = str(target)
        seen.add(current)


def _tags(tags: Any) -> list[str]:
    """Tags are strings, or ``{Category: Value}`` maps (``definitions.Tags``): ``Category:Value``."""
    out: list[str] = []
    for tag in tags if isinstance(tags, list) else []:
        if isinstance(tag, dict):
            out += [f"{k}:{v}" for k, v in tag.items()]
        elif tag is not None:
            out.append(str(tag))
    return out


def _text(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(_tags(value))
    return "" if value is None else str(value)
