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

Entry point: :func:`sync_summaries`. A run first asks :func:`unchanged_since_last_run`: when the
figures, the stored items and links (``Store.demand_stamp``), the epics and the settings are all
what the last run without failures synced, every summary's content is too, so the stage reads
nothing (it listed every linked item of every epic to find each hash unchanged).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Literal
from urllib.parse import unquote

from demandsync.connectors.base import Tracker
from demandsync.domain import Epic, SummaryContent, SummaryRequest, find_marker
from demandsync.errors import OutsideError
from demandsync.sync.demand import Demand, item_votes, requester_identity
from demandsync.sync.store.store import LinkedItem, Store

log = logging.getLogger(__name__)

Mode = Literal["comment", "field"]

QUOTE_MAX = 200
_SAFE_URL = re.compile(r"^(https?://|mailto:)[^\s]+$", re.I)
#: An e-mail address anywhere in a text (generous: a false positive only hides a word).
_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
EMAIL_MASK = "(e-mail hidden)"


def meta_key(epic_key: str) -> str:
    """Store meta key holding ``{"comment_id"|"field_id", "hash", "changed_on"}`` for an epic."""
    return f"summary:{epic_key}"


# -- what the summary says ------------------------------------------------------------


def summary_content(epic_key: str, demand: Demand, items: Iterable[LinkedItem], *, top: int = 5,
                    show_requesters: bool = True, show_emails: bool = False) -> SummaryContent:
    """The figures of ``demand`` and the ``top`` requests: one per requester (their most-voted, then
    latest item), most votes first, then newest.

    Privacy: ``show_requesters=False`` names nobody (neither person nor account). Unless
    ``show_emails``, no e-mail address reaches the tracker: a requester or account that is an
    address is left out, addresses inside quotes are masked, and ``mailto:`` links (or any link
    carrying an address) are dropped."""
    best: dict[str, LinkedItem] = {}
    for it in items:
        # a voting tool's request stands for many people: it is its own entry
        who = requester_identity(it) if it.people is None else f"item:{it.item_id}"
        cur = best.get(who)
        if cur is None or _rank(it) < _rank(cur):
            best[who] = it
    chosen = sorted(best.values(), key=_rank)[: max(0, top)]
    def person(value: str | None) -> str | None:
        value = (value or "").strip()
        if not value or not show_requesters or (not show_emails and _EMAIL.search(value)):
            return None
        return value

    def link(url: str | None) -> str | None:
        if not url or not _SAFE_URL.match(url):
            return None
        if not show_emails and (url.lower().startswith("mailto:") or _EMAIL.search(unquote(url))):
            return None
        return url

    requests = tuple(
        SummaryRequest(quote=_quote(it.text if show_emails else _EMAIL.sub(EMAIL_MASK, it.text or "")),
                       who=person(it.requester), account=person(it.account), url=link(it.url),
                       votes=item_votes(it))
        for it in chosen
    )
    return SummaryContent(
        epic_key=epic_key, requests=demand.requests, requesters=demand.requesters, accounts=demand.accounts,
        votes=demand.votes, last_requested=demand.last_requested.isoformat() if demand.last_requested else None,
        requests_30d=demand.requests_30d, requests_90d=demand.requests_90d, sources=demand.sources, top=requests,
    )


def _rank(it: LinkedItem) -> tuple[int, float, int]:
    created = it.created_at.timestamp() if it.created_at else 0.0
    return (-item_votes(it), -created, it.item_id)


def _quote(text: str) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= QUOTE_MAX else flat[: QUOTE_MAX - 1].rstrip() + "…"


# -- keeping it in Jira ---------------------------------------------------------------


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
    tracker: Tracker,
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
    show_emails: bool = False,
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
        content = summary_content(key, d, items_by_epic.get(key, ()), top=top, show_requesters=show_requesters,
                                  show_emails=show_emails)
        try:
            if mode == "comment":
                action = _sync_comment(tracker, store, key, content, today, dry_run)
            else:
                assert field_id is not None
                action = _sync_field(tracker, store, key, content, today, dry_run, field_id, field_format)
        except OutsideError as exc:
            result._count(key, "failed")
            result.errors.append({"stage": "summary", "epic": key, "error": str(exc)})
            log.error("managed summary of %s: %s", key, exc)
            continue
        result._count(key, action)
    log.info("managed summaries: %d created, %d updated, %d unchanged, %d skipped, %d failed%s",
             result.created, result.updated, result.unchanged, result.skipped, result.failed,
             " (dry run)" if dry_run else "")
    return result


def _sync_comment(tracker: Tracker, store: Store, key: str, content: SummaryContent,
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
    action = "updated"
    if comment_id and not tracker.update_summary_comment(key, str(comment_id), content, today):
        # Deleted in the tracker (or the store points at another site): look again, else start over.
        found = _find_comment(tracker, key)
        comment_id = found[0] if found else None
        if comment_id:
            tracker.update_summary_comment(key, comment_id, content, today)
    if not comment_id:
        comment_id = tracker.add_summary_comment(key, content, today)
        action = "created"
    store.set_meta(meta_key(key), {"comment_id": comment_id, "hash": digest, "changed_on": today.isoformat()})
    return action


def _find_comment(tracker: Tracker, key: str) -> tuple[str, str] | None:
    """``(comment id, hash in its marker)`` of the oldest comment carrying a summary marker that
    demandsync's own account wrote: someone quoting the marker keeps their comment."""
    own = tracker.own_account_id()
    found: list[tuple[str, str]] = []
    for comment_id, text, author in tracker.summary_comments(key):
        mark = find_marker(text)
        if not (mark and comment_id):
            continue
        if own is not None and author != own:
            log.warning("%s: comment %s quotes the summary marker but was written by someone else; "
                        "left alone", key, comment_id)
            continue
        found.append((comment_id, mark[1]))
    if len(found) > 1:
        log.warning("%s has %d demandsync summary comments; keeping comment %s up to date, "
                    "delete the others", key, len(found), found[0][0])
    return found[0] if found else None


def _sync_field(tracker: Tracker, store: Store, key: str, content: SummaryContent, today: date,
                dry_run: bool, field_id: str, field_format: Literal["adf", "text"] | None) -> str:
    digest = content.digest()
    meta = store.get_meta(meta_key(key)) or {}
    if meta.get("field_id") == field_id and meta.get("hash") == digest:
        return "unchanged"
    if meta.get("field_id") != field_id and content.requests == 0:
        return "skipped"
    mark = find_marker(tracker.field_text(key, field_id))
    if mark and mark[1] == digest:
        if not dry_run:
            store.set_meta(meta_key(key), {"field_id": field_id, "hash": digest, "changed_on": meta.get("changed_on")})
        return "unchanged"
    if content.requests == 0 and not mark:
        return "skipped"
    action = "updated" if mark else "created"
    if dry_run:
        return action
    tracker.write_summary_field(key, field_id, content, today, plain=field_format == "text")
    store.set_meta(meta_key(key), {"field_id": field_id, "hash": digest, "changed_on": today.isoformat()})
    return action


def items_by_epic(items: Iterable[LinkedItem]) -> dict[str, list[LinkedItem]]:
    """``store.linked_items()`` grouped by epic key (what :func:`sync_summaries` takes)."""
    grouped: dict[str, list[LinkedItem]] = {}
    for it in items:
        grouped.setdefault(it.epic_key, []).append(it)
    return grouped


#: Store meta key: what the last summary stage synced (see :func:`unchanged_since_last_run`).
LAST_RUN_META = "summary:last-run"


def run_basis(store: Store, epics: Sequence[Epic], demand: Mapping[str, Demand], settings: Mapping[str, object],
              stamp: list[str] | None = None) -> str:
    """A digest of everything the summaries' contents are made of: the epics and their figures,
    the items and links behind them (``Store.demand_stamp``, or ``stamp`` when the caller has read
    it) and the ``[summary]`` settings."""
    doc = {"epics": [e.key for e in epics], "demand": {k: d.as_dict() for k, d in demand.items()},
           "stamp": store.demand_stamp() if stamp is None else stamp, "settings": dict(settings)}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def unchanged_since_last_run(store: Store, basis: str) -> SummaryResult | None:
    """The result of syncing now, without syncing, if the last run synced this very ``basis``
    with no failure: each epic's content and stored hash are as it left them, so what it created
    or updated is now unchanged, and what it skipped is skipped again. None otherwise."""
    last = store.get_meta(LAST_RUN_META)
    if last is None or last.get("basis") != basis:
        return None
    result = SummaryResult()
    for key, action in last["actions"].items():
        result._count(key, "skipped" if action == "skipped" else "unchanged")
    log.info("managed summaries: nothing changed since the last run (%d unchanged, %d skipped)",
             result.unchanged, result.skipped)
    return result


def remember_run(store: Store, basis: str, result: SummaryResult) -> None:
    """Record a finished summary stage for :func:`unchanged_since_last_run` (only one without failures)."""
    if result.failed:
        store.set_meta(LAST_RUN_META, {})
    else:
        store.set_meta(LAST_RUN_META, {"basis": basis, "actions": result.actions})
