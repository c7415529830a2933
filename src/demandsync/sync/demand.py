"""Counting: the demand figures of each epic, from its accepted links.

Pure functions over the store's linked items (:class:`Counted`), so the
exact semantics (which a PM will question: "why is this 42?") live in one
short, tested place:

- ``requests``: distinct items with an accepted link. A voting tool's
  post/feature/suggestion is one item however many people voted for it (a
  merged one was folded into its survivor by the connector).
- ``requesters``: distinct people across all sources and items: the
  requester of one-person feedback (a respondent, a note's customer, a
  ticket's reporter) and every author and voter of a voting tool's request
  (``Counted.people``; identity = e-mail when known, else the tool's user
  id). One-person feedback without a requester (empty, or an anonymous
  placeholder the mapping removed) is a requester of its own.
- ``accounts``: distinct account names (case-insensitive) of those people;
  optionally the requester's e-mail domain when no account is known,
  free-mail domains never.
- ``votes``: each request's votes, summed over the epic's requests: a voting
  tool's request gives the sum of its voters' weights (each voter once per
  request; 1 each unless the tool weights votes; authors who did not vote add
  none); one-person feedback gives its own ``votes`` (1 unless mapped). So
  one person voting for two posts of one epic is two votes, one requester.
- ``score``: sum of item weights (source weight x attribute weights x recency).

A run counts through :func:`stored_demand`, which reuses the last run's figures when nothing
counting reads has changed since (``Store.demand_stamp``), the rules and epics are the same,
and no accepted item has left the last 30 or 90 days in between; when something did, it
recounts only the epics concerned. With a half-life the score moves with the clock itself,
so then every run counts afresh.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from demandsync.domain import Person
from demandsync.sync import collector
from demandsync.sync.store.store import Store

FREE_MAIL_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "hotmail.com", "outlook.com", "live.com",
    "msn.com", "icloud.com", "me.com", "mac.com", "aol.com", "proton.me", "protonmail.com", "gmx.de", "gmx.net",
    "web.de", "mail.ru", "yandex.ru", "qq.com", "163.com", "126.com", "zoho.com", "hey.com", "fastmail.com",
})


@dataclass(frozen=True, slots=True)
class DemandRules:
    """How to count, from ``[demand]`` in the config."""

    email_domain_accounts: bool = False
    free_mail_domains: frozenset[str] = FREE_MAIL_DOMAINS
    source_weights: Mapping[str, float] = field(default_factory=dict)
    #: attribute -> value (lower-case) -> weight
    attribute_weights: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    #: Recent requests weigh more: weight halves every N days. 0 = off.
    half_life_days: float = 0.0


@dataclass(slots=True)
class Demand:
    requests: int = 0
    requesters: int = 0
    accounts: int = 0
    votes: int = 0
    score: float = 0.0
    last_requested: date | None = None
    requests_30d: int = 0
    requests_90d: int = 0
    by_source: dict[str, int] = field(default_factory=dict)

    @property
    def sources(self) -> str:
        """``canny 12 · hotjar 9 · jira 3`` (largest first)."""
        ordered = sorted(self.by_source.items(), key=lambda kv: (-kv[1], kv[0]))
        return " · ".join(f"{name} {n}" for name, n in ordered)

    def figure(self, name: str) -> object:
        if name == "last_requested":
            return self.last_requested.isoformat() if self.last_requested else None
        return getattr(self, name)

    def as_dict(self) -> dict[str, object]:
        return {
            "requests": self.requests, "requesters": self.requesters, "accounts": self.accounts,
            "votes": self.votes, "score": self.score, "last_requested": self.figure("last_requested"),
            "requests_30d": self.requests_30d, "requests_90d": self.requests_90d, "sources": self.sources,
        }


class Counted(Protocol):
    """An item as counting reads it: a :class:`~demandsync.sync.store.store.LinkedItem`, or the
    narrower :class:`~demandsync.sync.store.store.CountedItem` a run counts from."""

    @property
    def epic_key(self) -> str: ...
    @property
    def item_id(self) -> int: ...
    @property
    def source(self) -> str: ...
    @property
    def requester(self) -> str | None: ...
    @property
    def account(self) -> str | None: ...
    @property
    def created_at(self) -> datetime | None: ...
    @property
    def votes(self) -> int: ...
    @property
    def extra(self) -> Mapping[str, Any]: ...
    @property
    def people(self) -> tuple[Person, ...] | None: ...


def requester_identity(item: Counted) -> str:
    """E-mails compare case-insensitively after trimming; no identity -> the item itself."""
    return _requester(item.requester, item.item_id)[0]


def _requester(requester: str | None, item_id: int) -> tuple[str, str | None, str | None]:
    """One-person feedback's requester: (identity, who as given but trimmed, e-mail lower-cased);
    no one named -> the item itself, nobody, no e-mail."""
    who = (requester or "").strip()
    if not who:
        return f"item:{item_id}", None, None
    low = who.lower()
    return f"who:{low}", who, low if "@" in who else None


@dataclass(frozen=True, slots=True)
class Asker:
    """One person behind an item, the way counting sees them."""

    identity: str
    who: str | None
    email: str | None
    account: str | None
    #: Votes this person gives this item.
    votes: int


def askers(item: Counted) -> list[Asker]:
    """The people behind one item: its people (voting tools), else its one requester."""
    if item.people is not None:
        return [Asker(f"who:{p.identity.strip().lower()}", p.name or p.email or p.identity, p.email, p.account,
                      p.votes) for p in item.people]
    identity, who, email = _requester(item.requester, item.item_id)
    return [Asker(identity, who, email, item.account, max(item.votes, 1))]


def item_votes(item: Counted) -> int:
    """The votes one request gives its epic (see the module docstring)."""
    return sum(a.votes for a in askers(item))


def _account_identity(account: str | None, email: str | None, rules: DemandRules) -> str | None:
    name = (account or "").strip().lower()
    if name:
        return f"acct:{name}"
    if rules.email_domain_accounts and email and "@" in email:
        domain = email.rsplit("@", 1)[1].strip().lower()
        if domain and domain not in rules.free_mail_domains:
            return f"domain:{domain}"
    return None


def item_weight(item: Counted, rules: DemandRules, now: datetime) -> float:
    weight = rules.source_weights.get(item.source, 1.0)
    for attribute, table in rules.attribute_weights.items():
        value = item.extra.get(attribute)
        if value is not None:
            weight *= table.get(str(value).strip().lower(), 1.0)
    if rules.half_life_days > 0 and item.created_at is not None:
        age_days = max((now - item.created_at).total_seconds() / 86400, 0.0)
        weight *= math.pow(0.5, age_days / rules.half_life_days)
    return weight


def count_demand(
    items: Iterable[Counted], epic_keys: Iterable[str], rules: DemandRules, now: datetime
) -> dict[str, Demand]:
    """Demand for every epic in ``epic_keys`` (epics with no items get zeros).

    ``items`` is consumed as a stream (``Store.counted_items``): each epic keeps running
    totals and the identities it has seen, never the items, so memory grows with distinct
    people rather than with links (at 1M items the list of links was most of a run's peak).
    Items are added in the order they come, as before, so even the score's float sum is the same.
    """
    tallies: dict[str, _Tally] = {key: _Tally(rules, now) for key in epic_keys}
    for it in items:
        tally = tallies.get(it.epic_key)
        if tally is not None:
            tally.add(it)  # distinct items, even if a row repeats
    return {key: tally.demand() for key, tally in tallies.items()}


class _Tally:
    """One epic's figures so far (see the module docstring for what each one counts)."""

    __slots__ = ("rules", "now", "d", "ids", "people", "accounts", "by_source", "score", "d30", "d90",
                 "source_weight_only")

    def __init__(self, rules: DemandRules, now: datetime) -> None:
        self.rules, self.now = rules, now
        self.d = Demand()
        self.ids: set[int] = set()
        self.people: set[str] = set()
        self.accounts: set[str] = set()
        self.by_source: Counter[str] = Counter()
        self.score = 0.0
        self.d30, self.d90 = now - timedelta(days=30), now - timedelta(days=90)
        #: item_weight() is then the source's weight alone: looked up here, the same float
        self.source_weight_only = not rules.attribute_weights and rules.half_life_days <= 0

    def add(self, it: Counted) -> None:
        item_id, ids = it.item_id, self.ids
        if item_id in ids:
            return
        ids.add(item_id)
        d, source = self.d, it.source
        if it.people is None:  # one-person feedback, most items: askers()'s one Asker, without building it
            identity, _, email = _requester(it.requester, item_id)
            self._asker(identity, max(it.votes, 1), it.account, email)
        else:
            for asker in askers(it):
                self._asker(asker.identity, asker.votes, asker.account, asker.email)
        self.by_source[source] += 1
        if self.source_weight_only:
            self.score += self.rules.source_weights.get(source, 1.0)
        else:
            self.score += item_weight(it, self.rules, self.now)
        created = it.created_at
        if created is not None:
            day, last = created.date(), d.last_requested
            if last is None or day > last:
                d.last_requested = day
            d.requests_30d += created >= self.d30
            d.requests_90d += created >= self.d90

    def _asker(self, identity: str, votes: int, account: str | None, email: str | None) -> None:
        self.people.add(identity)
        self.d.votes += votes
        if account or email:  # most items name neither: no account to look for (41,000 links: ~5 ms)
            acct = _account_identity(account, email, self.rules)
            if acct:
                self.accounts.add(acct)

    def demand(self) -> Demand:
        d = self.d
        d.requests = len(self.ids)
        if not self.ids:
            return d
        d.requesters = len(self.people)
        d.accounts = len(self.accounts)
        d.score = round(self.score, 2)
        d.by_source = dict(self.by_source)
        return d


#: Store meta key: the figures of the last count, and what they were counted from.
CACHE_META = "demand_cache"


def stored_demand(store: Store, epic_keys: Sequence[str], rules: DemandRules, now: datetime,
                  stamp: list[str] | None = None) -> dict[str, Demand]:
    """:func:`count_demand` over the store's accepted links, reusing the last count's figures where
    they are still exactly right (see the module docstring): a re-run with nothing new read every
    link again (~1 s at 100,000 items) to find the same numbers, and one with a few new items
    recounted every epic for the few they changed.

    Each epic's figures depend on its own accepted links and their items only (one tally per
    epic, fed in the same order), so recounting just the epics whose links or items changed
    (``Store.demand_epic_stamps``) or that an item left the last 30/90 days for gives the same
    figures as counting everything. ``stamp``: ``store.demand_stamp()`` when the caller has read it.

    The cycle collector is paused meanwhile: a tuple per link and the tallies' sets make no cycles, and
    a first run's count of 41,000 links set off two full collections (~0.1 s) that freed nothing."""
    with collector.paused():  # see sync/collector.py
        return _stored_demand(store, epic_keys, rules, now, stamp)


def _stored_demand(store: Store, epic_keys: Sequence[str], rules: DemandRules, now: datetime,
                   stamp: list[str] | None) -> dict[str, Demand]:
    keys = list(dict.fromkeys(epic_keys))
    basis: dict[str, Any] = {"v": 2, "rules": _rules_key(rules),
                             "epics": hashlib.sha256("\0".join(keys).encode()).hexdigest()}
    stamp = store.demand_stamp() if stamp is None else stamp
    cached = store.get_meta(CACHE_META) or {}
    with_extra = bool(rules.attribute_weights)
    per_epic: dict[str, str] | None = None
    if rules.half_life_days <= 0 and all(cached.get(k) == v for k, v in basis.items()) and "figures" in cached:
        then = datetime.fromisoformat(cached["counted_at"])
        if now >= then:
            # an item counted in "last 30 days" then, but not now: created in [then - 30 d, now - 30 d)
            left = store.epics_created_between([(then - timedelta(days=n), now - timedelta(days=n))
                                                for n in (30, 90)]) if now > then else set()
            if cached["stamp"] == stamp and not left:
                return {k: _demand_of(cached["figures"][k]) for k in keys}
            if cached["stamp"][-1] == stamp[-1] and cached.get("items_at"):  # the same people: per epic is enough
                per_epic = store.demand_epic_stamps()
                old = cached.get("per_epic", {})
                items = store.epics_of_items_changed_since(datetime.fromisoformat(cached["items_at"]))
                changed = sorted({k for k in keys if per_epic.get(k) != old.get(k)} | ((left | items) & set(keys)))
                if 4 * len(changed) <= len(keys):
                    fresh = count_demand(store.counted_items(changed, with_extra=with_extra), changed, rules, now)
                    demand = {k: fresh[k] if k in fresh else _demand_of(cached["figures"][k]) for k in keys}
                    _remember(store, basis, stamp, per_epic, now, demand)
                    return demand
    if per_epic is None:  # (read above already when too many epics changed for a partial recount)
        per_epic = store.demand_epic_stamps()
    demand = count_demand(store.counted_items(with_extra=with_extra), keys, rules, now)
    _remember(store, basis, stamp, per_epic, now, demand)
    return demand


def _remember(store: Store, basis: dict[str, Any], stamp: list[str], per_epic: dict[str, str], now: datetime,
              demand: dict[str, Demand]) -> None:
    items_at = store.stamped_item_change(stamp)  # (an item changed after it is looked at again next time)
    store.set_meta(CACHE_META, {**basis, "stamp": stamp, "per_epic": per_epic, "counted_at": now.isoformat(),
                                "items_at": items_at.isoformat() if items_at else None,
                                "figures": {k: _figures_of(d) for k, d in demand.items()}})


def _rules_key(rules: DemandRules) -> str:
    doc = {"email_domain_accounts": rules.email_domain_accounts, "free_mail": sorted(rules.free_mail_domains),
           "sources": dict(rules.source_weights), "half_life": rules.half_life_days,
           "attributes": {a: dict(t) for a, t in rules.attribute_weights.items()}}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def _figures_of(d: Demand) -> dict[str, Any]:
    return {"requests": d.requests, "requesters": d.requesters, "accounts": d.accounts, "votes": d.votes,
            "score": d.score, "last_requested": d.figure("last_requested"), "requests_30d": d.requests_30d,
            "requests_90d": d.requests_90d, "by_source": d.by_source}


def _demand_of(f: dict[str, Any]) -> Demand:
    last = f["last_requested"]
    return Demand(requests=f["requests"], requesters=f["requesters"], accounts=f["accounts"], votes=f["votes"],
                  score=f["score"], last_requested=date.fromisoformat(last) if last else None,
                  requests_30d=f["requests_30d"], requests_90d=f["requests_90d"], by_source=dict(f["by_source"]))
