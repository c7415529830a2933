"""Counting: the demand figures of each epic, from its accepted links.

Pure functions over :class:`~demandsync.sync.store.store.LinkedItem` rows, so the
exact semantics (which a PM will question: "why is this 42?") live in one
short, tested place:

- ``requests``: distinct items with an accepted link.
- ``requesters``: distinct requester identities; an item without one (empty,
  or an anonymous placeholder the mapping removed) is a requester of its own.
- ``accounts``: distinct account names (case-insensitive); optionally the
  requester's e-mail domain when no account is known, free-mail domains never.
- ``votes``: each requester's votes counted once per epic (their largest vote
  count); anonymous items add their own votes.
- ``score``: sum of item weights (source weight x attribute weights x recency).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from demandsync.sync.store.store import LinkedItem

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


def requester_identity(item: LinkedItem) -> str:
    """E-mails compare case-insensitively after trimming; no identity -> the item itself."""
    who = (item.requester or "").strip().lower()
    return f"who:{who}" if who else f"item:{item.item_id}"


def account_identity(item: LinkedItem, rules: DemandRules) -> str | None:
    name = (item.account or "").strip().lower()
    if name:
        return f"acct:{name}"
    if rules.email_domain_accounts and item.requester and "@" in item.requester:
        domain = item.requester.rsplit("@", 1)[1].strip().lower()
        if domain and domain not in rules.free_mail_domains:
            return f"domain:{domain}"
    return None


def item_weight(item: LinkedItem, rules: DemandRules, now: datetime) -> float:
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
    items: Iterable[LinkedItem], epic_keys: Iterable[str], rules: DemandRules, now: datetime
) -> dict[str, Demand]:
    """Demand for every epic in ``epic_keys`` (epics with no items get zeros)."""
    grouped: dict[str, dict[int, LinkedItem]] = {key: {} for key in epic_keys}
    for it in items:
        if it.epic_key in grouped:
            grouped[it.epic_key][it.item_id] = it  # distinct items, even if a row repeats
    return {key: _one_epic(list(by_id.values()), rules, now) for key, by_id in grouped.items()}


def _one_epic(items: list[LinkedItem], rules: DemandRules, now: datetime) -> Demand:
    d = Demand(requests=len(items))
    if not items:
        return d
    votes_by_requester: dict[str, int] = {}
    accounts: set[str] = set()
    by_source: Counter[str] = Counter()
    d30, d90 = now - timedelta(days=30), now - timedelta(days=90)
    score = 0.0
    for it in items:
        who = requester_identity(it)
        votes_by_requester[who] = max(votes_by_requester.get(who, 0), max(it.votes, 1))
        acct = account_identity(it, rules)
        if acct:
            accounts.add(acct)
        by_source[it.source] += 1
        score += item_weight(it, rules, now)
        if it.created_at is not None:
            day = it.created_at.date()
            if d.last_requested is None or day > d.last_requested:
                d.last_requested = day
            d.requests_30d += it.created_at >= d30
            d.requests_90d += it.created_at >= d90
    d.requesters = len(votes_by_requester)
    d.votes = sum(votes_by_requester.values())
    d.accounts = len(accounts)
    d.score = round(score, 2)
    d.by_source = dict(by_source)
    return d
