"""Closing the loop: who asked for an epic, and which epics have shipped.

When an epic ships, the PM wants to tell the people who asked for it.
:func:`requesters_for` lists them from the store (``demandsync requesters
KEY [--format csv]``), one row per requester the way demand counts them, so
the number of rows equals the epic's "requesters" figure: everyone behind a
voting tool's request (author and voters) and the one requester of other
feedback; an item without a requester is a requester of its own (an
anonymous row, no contact). ``items`` is how many of the epic's requests a
person is behind, ``votes`` the votes they gave them in total.

:func:`shipped_epics` says which epics are done, by one of two rules
(``[closing] shipped_when``):

- ``"done"`` (default): the epic's status category is Done, as read by the
  last run. Needs nothing new from Jira, but the epic JQL must keep selecting
  done epics (``statusCategory != Done`` in the JQL hides them: their stored
  status stays at whatever it was last seen).
- ``"released"``: the epic has at least one fix version and all of them are
  released. This asks Jira for ``fixVersions`` of the epics (one search per
  100 epics); it needs the tracker and the Fix versions field on epics.

:func:`newly_shipped` turns "shipped now" into "shipped since last time" for
the digest, remembering the set in the store (meta ``closing:shipped``).
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from demandsync.connectors.base import Tracker
from demandsync.csvsafe import neutralise_row
from demandsync.sync.demand import Asker, askers
from demandsync.sync.store.store import LinkedItem, Store

ShippedWhen = Literal["done", "released"]
SHIPPED_META = "closing:shipped"
CSV_COLUMNS = ("person", "contact", "account", "sources", "items", "votes", "first_asked", "last_asked")


@dataclass(slots=True)
class Requester:
    """One person (or one anonymous item) who asked for an epic."""

    #: The requester as the source gave it (e-mail or user id); None for an anonymous item.
    person: str | None
    #: An address to write to: the requester when it is an e-mail, else None.
    contact: str | None
    #: Their account (most frequent one across their items), if any source named it.
    account: str | None
    accounts: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    items: int = 0
    votes: int = 0
    first_asked: datetime | None = None
    last_asked: datetime | None = None
    urls: list[str] = field(default_factory=list)

    def as_row(self) -> dict[str, Any]:
        return {
            "person": self.person or "(anonymous)", "contact": self.contact or "", "account": self.account or "",
            "sources": " ".join(self.sources), "items": self.items, "votes": self.votes,
            "first_asked": self.first_asked.date().isoformat() if self.first_asked else "",
            "last_asked": self.last_asked.date().isoformat() if self.last_asked else "",
        }


def _contact(person: str | None) -> str | None:
    if person and "@" in person and "." in person.rsplit("@", 1)[-1] and " " not in person.strip():
        return person.strip().lower()
    return None


def group_requesters(items: Iterable[LinkedItem]) -> list[Requester]:
    """Requesters of ``items`` (all of one epic): most items first, then latest request first."""
    groups: dict[str, list[tuple[Asker, LinkedItem]]] = {}
    seen: set[int] = set()
    for it in items:
        if it.item_id in seen:
            continue
        seen.add(it.item_id)
        for asker in askers(it):
            groups.setdefault(asker.identity, []).append((asker, it))
    out = []
    for members in groups.values():
        person = next((a.who.strip() for a, _ in members if a.who and a.who.strip()), None)
        contact = next((a.email for a, _ in members if a.email), None) or _contact(person)
        accounts = Counter(a.account.strip() for a, _ in members if a.account and a.account.strip())
        dates = [m.created_at for _, m in members if m.created_at is not None]
        out.append(Requester(
            person=person, contact=_contact(contact),
            account=accounts.most_common(1)[0][0] if accounts else None,
            accounts=sorted(accounts), sources=sorted({m.source for _, m in members}), items=len(members),
            votes=sum(a.votes for a, _ in members),
            first_asked=min(dates) if dates else None, last_asked=max(dates) if dates else None,
            urls=[m.url for _, m in members if m.url],
        ))
    out.sort(key=lambda r: (-r.items, -(r.last_asked.timestamp() if r.last_asked else 0.0), r.person or "~"))
    return out


def requesters_for(store: Store, epic_key: str) -> list[Requester]:
    """Everyone whose accepted feedback counts toward ``epic_key``."""
    return group_requesters(store.linked_items([epic_key]))


def requesters_csv(requesters: Sequence[Requester]) -> str:
    """CSV (header + one row per requester, columns :data:`CSV_COLUMNS`), formula-safe
    (:mod:`demandsync.csvsafe`)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\r\n")  # RFC 4180; quotes a lone CR
    writer.writeheader()
    for r in requesters:
        writer.writerow(neutralise_row(r.as_row()))
    return buf.getvalue()


# -- shipped epics -------------------------------------------------------------------------


@dataclass(slots=True)
class ShippedEpic:
    key: str
    summary: str
    requesters: int
    requests: int
    accounts: int


def shipped_epics(
    store: Store,
    *,
    shipped_when: ShippedWhen = "done",
    tracker: Tracker | None = None,
    keys: Iterable[str] | None = None,
    with_counts: bool = True,
) -> list[ShippedEpic]:
    """Epics (of ``keys``, default every epic the store knows) that count as shipped, with how many
    people asked for them. ``with_counts=False`` leaves the three counts at 0 and skips reading
    the epics' items: a run without a Slack digest only remembers which keys shipped."""
    epics = store.epic_statuses()
    wanted = [k for k in (keys if keys is not None else epics) if k in epics]
    if shipped_when == "done":
        done = [k for k in wanted if (epics[k].status_category or "").lower() == "done"]
    elif shipped_when == "released":
        if tracker is None:
            raise ValueError("shipped_when = 'released' needs the Jira tracker to read fix versions")
        done = tracker.released(wanted)
    else:
        raise ValueError(f"shipped_when must be 'done' or 'released', not {shipped_when!r}")
    if not done:
        return []
    if not with_counts:
        return [ShippedEpic(key=key, summary=epics[key].summary, requesters=0, requests=0, accounts=0)
                for key in sorted(done)]
    by_epic: dict[str, list[LinkedItem]] = {}
    for it in store.linked_items(done):
        by_epic.setdefault(it.epic_key, []).append(it)
    out = []
    for key in sorted(done):
        people = group_requesters(by_epic.get(key, ()))
        out.append(ShippedEpic(
            key=key, summary=epics[key].summary, requesters=len(people),
            requests=len({it.item_id for it in by_epic.get(key, ())}),
            accounts=len({a.lower() for r in people for a in r.accounts}),
        ))
    return out


def newly_shipped(store: Store, shipped: Sequence[ShippedEpic], *, remember: bool = True) -> list[ShippedEpic]:
    """Those of ``shipped`` not shipped at the previous call. The first call only records a baseline
    (returns nothing), so turning the feature on does not announce every epic ever finished."""
    previous = store.get_meta(SHIPPED_META)
    if remember:
        store.set_meta(SHIPPED_META, {"keys": sorted(s.key for s in shipped)})
    if previous is None:
        return []
    before = set(previous.get("keys") or [])
    return [s for s in shipped if s.key not in before]
