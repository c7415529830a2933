"""The managed summary: one comment (or one text field) per epic that demandsync owns.

A PM opening an epic sees the figures, the loudest requests (quote, who,
which account, a link to the source) and when demandsync last changed it::

    Customer demand
    42 requests · 17 requesters · 9 accounts · 58 votes
    Last requested 2026-11-05 · last 30 days 4 · last 90 days 12
    Sources: canny 12 · hotjar 9
    Top requests
    • "We need SAML before the renewal" — ann@acme.com, Acme · source
    ──────
    Last changed by demandsync on 2026-11-05. Managed by demandsync — edits will be overwritten.
    demandsync/summary/PROD-1/3f9a0c1b2d4e

Rules:

- **Edited in place, never duplicated.** The comment id lives in the store
  (meta key ``summary:<EPIC>``). If the store is lost, the comment is found
  again by its marker line ``demandsync/summary/<EPIC>/<hash>``: plain text,
  the one thing every Jira keeps through its ADF or wiki round trip (hidden
  attributes such as ``localId`` are rewritten, HTML comments do not exist).
  Any comment of the issue carrying a marker is ours, whatever key the marker
  names, so an epic moved to another project keeps its summary.
- **Skipped when nothing changed.** The hash covers the content *without* the
  date, and is written into the marker, so an unchanged summary costs no
  request at all (store hash) or one read (after losing the store). The date
  shown is therefore the date the content last changed.
- **No summary for an epic nobody asked for.** An epic with zero requests gets
  no new comment; an existing one is updated (to zero, e.g. after
  ``demandsync forget``).
- **Format per Jira.** Cloud gets Atlassian Document Format built node by node
  (doc, heading, paragraph, bulletList, listItem, rule, text with strong/em/
  code/link marks); Data Center gets wiki markup with special characters escaped.

Entry point: :func:`sync_summaries`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal, Protocol

from demandsync.connectors.adf import adf_to_text
from demandsync.connectors.base import WriteRejected
from demandsync.connectors.http import APIError, FatalAPIError
from demandsync.domain import Epic
from demandsync.sync.demand import Demand, requester_identity
from demandsync.sync.store import LinkedItem, Store

log = logging.getLogger(__name__)

Mode = Literal["comment", "field"]

FOOTER = "Managed by demandsync — edits will be overwritten."
MARKER_RE = re.compile(r"demandsync/summary/([A-Za-z][A-Za-z0-9_]*-\d+)/([0-9a-f]{12})")
QUOTE_MAX = 200
_SAFE_URL = re.compile(r"^(https?://|mailto:)[^\s]+$", re.I)


def meta_key(epic_key: str) -> str:
    """Store meta key holding ``{"comment_id"|"field_id", "hash", "changed_on"}`` for an epic."""
    return f"summary:{epic_key}"


def marker(epic_key: str, digest: str) -> str:
    return f"demandsync/summary/{epic_key}/{digest}"


def find_marker(text: str) -> tuple[str, str] | None:
    """``(epic key, content hash)`` of the marker in a comment's or field's text, if any."""
    m = MARKER_RE.search(text or "")
    return (m.group(1), m.group(2)) if m else None


# -- what the summary says ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    quote: str
    who: str | None
    account: str | None
    url: str | None
    votes: int


@dataclass(frozen=True, slots=True)
class SummaryContent:
    """Everything shown except the date: its hash decides whether Jira is touched."""

    epic_key: str
    requests: int
    requesters: int
    accounts: int
    votes: int
    last_requested: str | None
    requests_30d: int
    requests_90d: int
    sources: str
    top: tuple[Request, ...]

    def digest(self) -> str:
        doc = json.dumps(
            [self.requests, self.requesters, self.accounts, self.votes, self.last_requested, self.requests_30d,
             self.requests_90d, self.sources, [[r.quote, r.who, r.account, r.url, r.votes] for r in self.top]],
            ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(doc.encode()).hexdigest()[:12]


def summary_content(epic_key: str, demand: Demand, items: Iterable[LinkedItem], *, top: int = 5,
                    show_requesters: bool = True) -> SummaryContent:
    """The figures of ``demand`` and the ``top`` requests: one per requester (their most-voted, then
    latest item), most votes first, then newest. ``show_requesters=False`` names accounts only."""
    best: dict[str, LinkedItem] = {}
    for it in items:
        who = requester_identity(it)
        cur = best.get(who)
        if cur is None or _rank(it) < _rank(cur):
            best[who] = it
    chosen = sorted(best.values(), key=_rank)[: max(0, top)]
    requests = tuple(
        Request(quote=_quote(it.text), who=(it.requester or None) if show_requesters else None,
                account=it.account or None, url=it.url if it.url and _SAFE_URL.match(it.url) else None,
                votes=max(it.votes, 1))
        for it in chosen
    )
    return SummaryContent(
        epic_key=epic_key, requests=demand.requests, requesters=demand.requesters, accounts=demand.accounts,
        votes=demand.votes, last_requested=demand.last_requested.isoformat() if demand.last_requested else None,
        requests_30d=demand.requests_30d, requests_90d=demand.requests_90d, sources=demand.sources, top=requests,
    )


def _rank(it: LinkedItem) -> tuple[int, float, int]:
    created = it.created_at.timestamp() if it.created_at else 0.0
    return (-max(it.votes, 1), -created, it.item_id)


def _quote(text: str) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= QUOTE_MAX else flat[: QUOTE_MAX - 1].rstrip() + "…"


def _figure_line(c: SummaryContent) -> list[tuple[str, bool]]:
    """``(text, bold)`` runs of the headline."""
    def n(count: int, word: str) -> str:
        return f"{count} {word}{'' if count == 1 else 's'}"
    return [(n(c.requests, "request"), True),
            (" · " + " · ".join([n(c.requesters, "requester"), n(c.accounts, "account"), n(c.votes, "vote")]), False)]


def _recency_line(c: SummaryContent) -> str:
    last = f"Last requested {c.last_requested}" if c.last_requested else "Never requested"
    return f"{last} · last 30 days {c.requests_30d} · last 90 days {c.requests_90d}"


def _who(r: Request) -> str:
    return ", ".join(p for p in (r.who, r.account) if p) or "anonymous"


def _footer(changed_on: date) -> str:
    return f"Last changed by demandsync on {changed_on.isoformat()}. {FOOTER}"


# -- Atlassian Document Format (Cloud) ------------------------------------------------


def _t(text: str, *marks: dict[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": text}
    if marks:
        node["marks"] = list(marks)
    return node


def _para(*nodes: dict[str, Any]) -> dict[str, Any]:
    content = [n for n in nodes if n.get("type") != "text" or n.get("text")]  # ADF forbids empty text
    return {"type": "paragraph", "content": content}


def _heading(level: int, text: str) -> dict[str, Any]:
    return {"type": "heading", "attrs": {"level": level}, "content": [_t(text)]}


def summary_adf(c: SummaryContent, changed_on: date) -> dict[str, Any]:
    """The summary as an ADF ``doc`` (Cloud comment body or rich-text field value)."""
    strong, em, code = {"type": "strong"}, {"type": "em"}, {"type": "code"}
    blocks: list[dict[str, Any]] = [
        _heading(3, "Customer demand"),
        _para(*[_t(text, strong) if bold else _t(text) for text, bold in _figure_line(c)]),
        _para(_t(_recency_line(c))),
    ]
    if c.sources:
        blocks.append(_para(_t("Sources: "), _t(c.sources)))
    if c.top:
        blocks.append(_heading(4, "Top requests"))
        items = []
        for r in c.top:
            nodes = [_t(f"“{r.quote}”", em), _t(f" — {_who(r)}")]
            if r.votes > 1:
                nodes.append(_t(f" ({r.votes} votes)"))
            if r.url:
                nodes += [_t(" · "), _t("source", {"type": "link", "attrs": {"href": r.url}})]
            items.append({"type": "listItem", "content": [_para(*nodes)]})
        blocks.append({"type": "bulletList", "content": items})
    blocks += [
        {"type": "rule"},
        _para(_t(_footer(changed_on), em), _t(" "), _t(marker(c.epic_key, c.digest()), code)),
    ]
    return {"type": "doc", "version": 1, "content": blocks}


# -- wiki markup (Data Center) ---------------------------------------------------------

_WIKI_SPECIAL = re.compile(r"[\\*_{}\[\]|^~+#!]|\?\?|(?<!\w)-|-(?!\w)")


def wiki_escape(text: str) -> str:
    r"""Text shown literally in Jira wiki markup: ``*bold*``, ``_em_``, ``[links]``, ``{macros}``,
    ``-strike-`` and friends are escaped with a backslash; a hyphen inside a word (dates, keys) is left.

    >>> wiki_escape("*not bold* [not a link] 2026-11-05 - ok")
    '\\*not bold\\* \\[not a link\\] 2026-11-05 \\- ok'
    """
    return _WIKI_SPECIAL.sub(lambda m: "".join("\\" + ch for ch in m.group(0)), text)


def _wiki_url(url: str) -> str:
    return url.replace("|", "%7C").replace("]", "%5D").replace("[", "%5B")


def summary_wiki(c: SummaryContent, changed_on: date) -> str:
    """The summary as Jira wiki markup (Data Center comment body or text field value)."""
    head = "".join(f"*{t}*" if bold else t for t, bold in _figure_line(c))  # our own words and digits
    lines = ["h3. Customer demand", head, _recency_line(c)]
    if c.sources:
        lines.append("Sources: " + wiki_escape(c.sources))
    blocks = ["\n".join(lines)]
    if c.top:
        rows = []
        for r in c.top:
            row = f"* _“{wiki_escape(r.quote)}”_ — {wiki_escape(_who(r))}"
            if r.votes > 1:
                row += f" ({r.votes} votes)"
            if r.url:
                row += f" · [source|{_wiki_url(r.url)}]"
            rows.append(row)
        blocks.append("h4. Top requests\n" + "\n".join(rows))
    blocks.append(f"----\n_{_footer(changed_on)}_ {{{{{marker(c.epic_key, c.digest())}}}}}")
    return "\n\n".join(blocks)


# -- keeping it in Jira ---------------------------------------------------------------


class CommentingTracker(Protocol):
    """What the summary needs from a tracker (:class:`~demandsync.connectors.jira.JiraTracker` has it)."""

    deployment: str

    def comments(self, key: str) -> Iterable[dict[str, Any]]: ...
    def add_comment(self, key: str, body: Any) -> dict[str, Any]: ...
    def update_comment(self, key: str, comment_id: str, body: Any) -> dict[str, Any]: ...
    def issue(self, key: str, fields: Sequence[str]) -> dict[str, Any]: ...
    def update(self, key: str, values: Mapping[str, Any]) -> None: ...


@dataclass(slots=True)
class SummaryResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    #: Epics with no requests and no summary yet: nothing to say, nothing written.
    skipped: int = 0
    failed: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    #: epic key -> "created" | "updated" | "unchanged" | "skipped" | "failed" (what happened, or would in a dry run)
    actions: dict[str, str] = field(default_factory=dict)

    def _count(self, key: str, action: str) -> None:
        self.actions[key] = action
        setattr(self, action, getattr(self, action) + 1)


def sync_summaries(
    tracker: CommentingTracker,
    store: Store,
    epics: Iterable[Epic | str],
    demand: Mapping[str, Demand],
    items_by_epic: Mapping[str, Sequence[LinkedItem]],
    *,
    mode: Mode = "comment",
    field_id: str | None = None,
    field_format: Literal["adf", "text"] | None = None,
    top: int = 5,
    show_requesters: bool = True,
    dry_run: bool = False,
    today: date | None = None,
) -> SummaryResult:
    """Create, update or leave alone the managed summary of every epic in ``epics``.

    ``mode="comment"`` keeps one comment per epic; ``mode="field"`` writes the
    summary into ``field_id`` (a paragraph/text custom field). ``field_format``
    says what that field takes on Cloud: ``"adf"`` for rich text (multi-line
    "Paragraph" fields, the description), ``"text"`` for a plain string;
    default ADF on Cloud. Data Center always gets wiki markup. A failure on one
    epic is counted and reported in ``errors``; the others go on. ``dry_run``
    reads (to tell create from update) but writes nothing, store included.
    """
    if mode not in ("comment", "field"):
        raise ValueError(f"summary mode must be 'comment' or 'field', not {mode!r}")
    if mode == "field" and not field_id:
        raise ValueError("summary mode 'field' needs field_id (the Jira field that receives the summary)")
    today = today or datetime.now(UTC).date()
    result = SummaryResult()
    for epic in epics:
        key = epic if isinstance(epic, str) else epic.key
        d = demand.get(key)
        if d is None:
            continue
        content = summary_content(key, d, items_by_epic.get(key, ()), top=top, show_requesters=show_requesters)
        try:
            if mode == "comment":
                action = _sync_comment(tracker, store, key, content, today, dry_run)
            else:
                assert field_id is not None
                action = _sync_field(tracker, store, key, content, today, dry_run, field_id, field_format)
        except (APIError, WriteRejected) as exc:
            result._count(key, "failed")
            result.errors.append({"stage": "summary", "epic": key, "error": str(exc)})
            log.error("managed summary of %s: %s", key, exc)
            continue
        result._count(key, action)
    log.info("managed summaries: %d created, %d updated, %d unchanged, %d skipped, %d failed%s",
             result.created, result.updated, result.unchanged, result.skipped, result.failed,
             " (dry run)" if dry_run else "")
    return result


def render(tracker: CommentingTracker, content: SummaryContent, changed_on: date,
           field_format: Literal["adf", "text"] | None = None) -> dict[str, Any] | str:
    if tracker.deployment == "cloud" and field_format != "text":
        return summary_adf(content, changed_on)
    return summary_wiki(content, changed_on) if tracker.deployment != "cloud" else _plain(content, changed_on)


def _plain(content: SummaryContent, changed_on: date) -> str:
    """Plain text for a Cloud string field: the ADF's text (marker included)."""
    return adf_to_text(summary_adf(content, changed_on))


def _body_text(body: Any) -> str:
    return adf_to_text(body) if isinstance(body, dict) else str(body or "")


def _sync_comment(tracker: CommentingTracker, store: Store, key: str, content: SummaryContent,
                  today: date, dry_run: bool) -> str:
    digest = content.digest()
    meta = store.get_meta(meta_key(key)) or {}
    comment_id = meta.get("comment_id")
    if comment_id and meta.get("hash") == digest:
        return "unchanged"
    if not comment_id:
        if content.requests == 0:
            return "skipped"
        found = _find_comment(tracker, key)
        if found is not None:
            comment_id, old = found
            if old == digest:
                if not dry_run:
                    store.set_meta(meta_key(key), {"comment_id": comment_id, "hash": digest,
                                                   "changed_on": meta.get("changed_on")})
                return "unchanged"
    if dry_run:
        return "updated" if comment_id else "created"
    body = render(tracker, content, today)
    action = "updated"
    if comment_id:
        try:
            tracker.update_comment(key, str(comment_id), body)
        except FatalAPIError as exc:
            if exc.status != 404:
                raise
            # Deleted in Jira (or the store points at another site): look again, else start over.
            found = _find_comment(tracker, key)
            comment_id = found[0] if found else None
            if comment_id:
                tracker.update_comment(key, comment_id, body)
    if not comment_id:
        comment_id = str(tracker.add_comment(key, body).get("id") or "")
        action = "created"
    store.set_meta(meta_key(key), {"comment_id": comment_id, "hash": digest, "changed_on": today.isoformat()})
    return action


def _find_comment(tracker: CommentingTracker, key: str) -> tuple[str, str] | None:
    """``(comment id, hash in its marker)`` of the oldest comment carrying a summary marker."""
    found: list[tuple[str, str]] = []
    for comment in tracker.comments(key):
        mark = find_marker(_body_text(comment.get("body")))
        if mark and comment.get("id"):
            found.append((str(comment["id"]), mark[1]))
    if len(found) > 1:
        log.warning("%s has %d demandsync summary comments; keeping comment %s up to date, "
                    "delete the others", key, len(found), found[0][0])
    return found[0] if found else None


def _sync_field(tracker: CommentingTracker, store: Store, key: str, content: SummaryContent, today: date,
                dry_run: bool, field_id: str, field_format: Literal["adf", "text"] | None) -> str:
    digest = content.digest()
    meta = store.get_meta(meta_key(key)) or {}
    if meta.get("field_id") == field_id and meta.get("hash") == digest:
        return "unchanged"
    if meta.get("field_id") != field_id and content.requests == 0:
        return "skipped"
    current = ((tracker.issue(key, [field_id]).get("fields") or {}).get(field_id))
    mark = find_marker(_body_text(current))
    if mark and mark[1] == digest:
        if not dry_run:
            store.set_meta(meta_key(key), {"field_id": field_id, "hash": digest, "changed_on": meta.get("changed_on")})
        return "unchanged"
    if content.requests == 0 and not mark:
        return "skipped"
    action = "updated" if mark else "created"
    if dry_run:
        return action
    tracker.update(key, {field_id: render(tracker, content, today, field_format)})
    store.set_meta(meta_key(key), {"field_id": field_id, "hash": digest, "changed_on": today.isoformat()})
    return action


def items_by_epic(items: Iterable[LinkedItem]) -> dict[str, list[LinkedItem]]:
    """``store.linked_items()`` grouped by epic key (what :func:`sync_summaries` takes)."""
    grouped: dict[str, list[LinkedItem]] = {}
    for it in items:
        grouped.setdefault(it.epic_key, []).append(it)
    return grouped
