"""What the PM's page and ``demandsync inbox`` show, read from the store.

- :func:`epic_cards`: the selected epics with their figures **as last written
  to the tracker** (the figures the last sync saved right before writing; a
  figure whose write failed shows the value the tracker kept), the sources and
  requests per week over the last 12 weeks.
- :func:`epic_items`: every item counted for one epic, with how it was linked.
- :func:`inbox`: feedback no epic claims, each item with its best candidate
  epics, grouped into themes (``linking/themes.py``).

No web framework here: the page (``demandsync.web``) and the CLI render these.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from demandsync.handles import item_handle
from demandsync.sync.linking import textnorm
from demandsync.sync.linking.decisions import item_ref
from demandsync.sync.linking.link import build_model, learned_from
from demandsync.sync.linking.themes import MAX_ITEMS, find_themes
from demandsync.sync.notify import previous_figures
from demandsync.sync.store.store import Store, as_utc

WEEKS = 12
#: Candidates below this score are not worth a PM's look (the model calls it < 10 % likely).
MIN_CANDIDATE_SCORE = 0.10
CANDIDATES = 3
#: Default figures shown when ``[jira.fields]`` maps none.
DEFAULT_FIGURES = ("requests", "requesters")
#: Quotes in a theme's draft epic.
DRAFT_QUOTES = 5


@dataclass(slots=True)
class EpicCard:
    key: str
    summary: str
    status: str | None
    figures: dict[str, Any]
    #: figure -> the value computed but not on the tracker (its write failed in the last sync).
    unwritten: dict[str, Any]
    sources: str
    weeks: list[int]


@dataclass(slots=True)
class InboxItem:
    id: str
    source: str
    text: str
    requester: str | None
    account: str | None
    created_at: str | None
    url: str | None
    suggestions: list[dict[str, Any]]


@dataclass(slots=True)
class InboxTheme:
    id: str
    label: str
    words: list[str]
    size: int
    accounts: list[str]
    newest: str | None
    items: list[str]
    candidates: list[dict[str, Any]]
    draft: dict[str, str]


@dataclass(slots=True)
class Inbox:
    items: list[InboxItem] = field(default_factory=list)
    themes: list[InboxTheme] = field(default_factory=list)
    #: Unlinked items in all (``items`` may be cut to a limit).
    total: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"items": [asdict(i) for i in self.items], "themes": [asdict(t) for t in self.themes],
                "total": self.total}


def shown_figures(configured: Sequence[str]) -> list[str]:
    return list(configured) or list(DEFAULT_FIGURES)


def last_sync(store: Store) -> dict[str, Any] | None:
    """The newest run that wrote (not a dry run), or None."""
    return next((r for r in store.runs(50) if not r["dry_run"] and r["status"] != "running"), None)


def epic_cards(store: Store, figures: Sequence[str], now: datetime) -> list[EpicCard]:
    """Every selected epic, as last written; ordered by requests (then key)."""
    run = last_sync(store)
    failed: dict[tuple[str, str], Any] = {}
    if run is not None:
        for w in store.journal(run_id=run["id"], state="failed", limit=100_000):
            failed[(w["epic_key"], w["figure"])] = (w["old"] or {}).get("v")
    weeks = weekly_requests(store, now)
    saved = previous_figures(store)  # one query, not one per epic (2,000 epics)
    cards = []
    for epic in store.epics():
        demand = saved.get(epic.key, {})
        shown: dict[str, Any] = {}
        unwritten: dict[str, Any] = {}
        for name in figures:
            value = demand.get(name)
            if (epic.key, name) in failed:
                unwritten[name] = value
                value = failed[(epic.key, name)]
            shown[name] = value
        cards.append(EpicCard(epic.key, epic.summary, epic.status_category, shown, unwritten,
                              str(demand.get("sources") or ""), weeks.get(epic.key, [0] * WEEKS)))
    cards.sort(key=lambda c: (-_number(c.figures.get("requests", c.figures.get(figures[0] if figures else "", 0))),
                              c.key))
    return cards


def weekly_requests(store: Store, now: datetime) -> dict[str, list[int]]:
    """epic -> requests created in each of the last ``WEEKS`` weeks, oldest first."""
    out: dict[str, list[int]] = {}
    for key, created in store.accepted_dates_since(now - timedelta(weeks=WEEKS)):
        age = (now - created).days // 7
        if 0 <= age < WEEKS:
            out.setdefault(key, [0] * WEEKS)[WEEKS - 1 - age] += 1
    return out


def epic_items(store: Store, key: str) -> list[dict[str, Any]]:
    """Every item counted for ``key``, newest first: source, requester, account, date, how linked."""
    return [{"id": item_ref(i.source, i.external_id), "source": i.source, "text": i.text, "requester": i.requester,
             "account": i.account, "created_at": _iso(i.created_at), "url": i.url, "method": i.method,
             "score": round(float(i.score), 3)}
            for i in store.linked_items([key])]


def inbox(store: Store, *, limit: int | None = None, theme_items: int = MAX_ITEMS) -> Inbox:
    """Unlinked feedback with candidate epics, and themes over the newest ``theme_items`` of it."""
    rows = store.unlinked_items()
    epics = store.epics()
    summaries = {e.key: e.summary for e in epics}
    rejected = store.rejected_pairs()
    texts = [r["text"] or "" for r in rows]
    candidates: list[list[dict[str, Any]]] = [[] for _ in rows]
    if epics and rows:
        model = build_model(epics, learned_from(store, refresh=False))
        for n, (row, cands) in enumerate(zip(rows, model.score(texts, top_k=CANDIDATES + 2,
                                                                 min_score=MIN_CANDIDATE_SCORE))):
            candidates[n] = [{"epic": c.epic_key, "summary": summaries.get(c.epic_key, ""), "score": round(c.score, 3)}
                             for c in cands if (row["row_id"], c.epic_key) not in rejected][:CANDIDATES]
    items = [InboxItem(item_ref(r["source"], r["item_id"]), r["source"], r["text"], r["requester"], r["account"],
                       _iso(r["created_at"]), r["url"], candidates[n]) for n, r in enumerate(rows)]
    themed = items[:theme_items]
    themes = []
    for n, theme in enumerate(find_themes([i.text for i in themed])):
        members = [themed[m] for m in theme.members]
        themes.append(_theme(n + 1, theme.words, members, summaries))
    return Inbox(items[:limit] if limit else items, themes, len(items))


def _theme(number: int, words: Sequence[str], members: list[InboxItem], summaries: dict[str, str]) -> InboxTheme:
    score: Counter[str] = Counter()
    for m in members:
        for s in m.suggestions:
            score[s["epic"]] += s["score"]
    cands = [{"epic": k, "summary": summaries.get(k, ""), "score": round(v / len(members), 3)}
             for k, v in sorted(score.items(), key=lambda kv: (-kv[1], kv[0]))[:CANDIDATES]]
    accounts = sorted({m.account for m in members if m.account}, key=str.lower)
    dates = [m.created_at for m in members if m.created_at]
    label = " · ".join(words) or "(no common words)"
    title = _title(words[:3], members[0].text if members else "")
    quotes = []
    for m in members[:DRAFT_QUOTES]:
        who = ", ".join(x for x in (m.account, m.created_at[:10] if m.created_at else None) if x)
        quotes.append("> " + " ".join(m.text.split())[:300] + f"\n> — {item_handle(m.source, m.id.split(':', 1)[1])}"
                      + (f" ({who})" if who else ""))
    body = (f"{len(members)} unlinked request(s) ask for this"
            + (f", from {len(accounts)} account(s): {', '.join(accounts[:10])}" if accounts else "")
            + ".\n\n" + "\n\n".join(quotes) + "\n")
    return InboxTheme(f"t{number}", label, list(words), len(members), accounts, max(dates) if dates else None,
                      [m.id for m in members], cands, {"title": title, "body": body})


def _title(words: Sequence[str], central: str) -> str:
    """A draft epic title: the theme's words in the order the most central item says them
    ("dark mode dashboard"), capitalised."""
    said = {w: n for n, w in reversed(list(enumerate(textnorm.words(central))))}
    ordered = sorted(words, key=lambda w: (said.get(w, len(said) + list(words).index(w)), w))
    return " ".join(ordered).capitalize() or "New epic"


def _iso(value: datetime | None) -> str | None:
    value = as_utc(value)
    return value.isoformat() if value else None


def _number(value: Any) -> float:
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


def week_starts(now: datetime) -> list[str]:
    """The first day of each sparkline week, oldest first (for tooltips)."""
    return [(now - timedelta(days=7 * (WEEKS - 1 - i) + 6)).date().isoformat() for i in range(WEEKS)]
