"""The Slack digest: after a run, what moved, what is new, what shipped.

Off unless ``[notify] slack_webhook`` is set. One POST of a Block Kit message
(with a ``text`` fallback for notifications) to a Slack incoming webhook:

- **Demand moved most**: epics whose request count changed since the previous
  run, largest change first (``top`` of them).
- **New demand**: epics that had no requests before and have some now.

The first run (no figures saved before it) is the baseline and posts nothing.
- **Shipped**: epics newly shipped, with how many requesters to tell.

``before`` is the ``epics.demand`` JSON of the previous run (read it with
:func:`previous_figures` *before* the run saves the new figures); ``after`` is
this run's ``RunReport.demand``. Nothing to say, nothing posted.

A failed post is logged and :func:`post_digest` returns False: the digest is
a courtesy and never fails a sync. The webhook URL is a secret (whoever holds
it can post to the channel): it is a ``SecretStr``, never logged, and a filter
masks it in httpx's own request log lines.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import httpx
import sqlalchemy as sa
from pydantic import SecretStr

from demandsync.domain import Epic
from demandsync.sync.requesters import ShippedEpic
from demandsync.sync.store.store import EPICS, Store

log = logging.getLogger(__name__)

SLACK_HOSTS = frozenset({"hooks.slack.com", "hooks.slack-gov.com"})
_SECTION_MAX = 2900  # Slack's section text limit is 3000 characters


def previous_figures(store: Store) -> dict[str, dict[str, Any]]:
    """``epic key -> figures`` the previous run saved (``{}`` for epics never counted)."""
    with store.begin() as conn:
        return {key: dict(demand or {}) for key, demand in conn.execute(sa.select(EPICS.c.key, EPICS.c.demand))}


# -- what to say ---------------------------------------------------------------------------


def _requests(figures: Mapping[str, Any] | None) -> int:
    try:
        return int((figures or {}).get("requests") or 0)
    except (TypeError, ValueError):
        return 0


def _escape(text: str) -> str:
    """Slack mrkdwn: &, < and > are control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _epic_ref(key: str, summaries: Mapping[str, str], jira_url: str | None) -> str:
    name = summaries.get(key, "")
    ref = f"<{jira_url.rstrip('/')}/browse/{key}|{key}>" if jira_url else f"*{key}*"
    return f"{ref} {_escape(name)}".rstrip()


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def build_digest(
    before: Mapping[str, Mapping[str, Any]],
    after: Mapping[str, Mapping[str, Any]],
    epics: Iterable[Epic] | Mapping[str, str],
    shipped: Sequence[ShippedEpic] = (),
    *,
    top: int = 5,
    jira_url: str | None = None,
) -> dict[str, Any] | None:
    """The Slack message (``{"text", "blocks"}``), or None when there is nothing to tell."""
    summaries = dict(epics) if isinstance(epics, Mapping) else {e.key: e.summary for e in epics}
    if not any(before.values()):
        return None  # no previous run to compare with: this run is the baseline, not news
    moved, new = [], []
    for key, now in after.items():
        was, is_ = _requests(before.get(key)), _requests(now)
        if was == 0 and is_ > 0:
            new.append((key, now))
        elif was and is_ != was:
            moved.append((key, was, is_, now))
    moved.sort(key=lambda m: (-abs(m[2] - m[1]), -m[2], m[0]))
    new.sort(key=lambda n: (-_requests(n[1]), n[0]))
    if not (moved or new or shipped):
        return None

    sections: list[tuple[str, list[str], int]] = []
    if moved:
        lines = [
            f"• {_epic_ref(k, summaries, jira_url)} — {_plural(is_, 'request')} ({is_ - was:+d}), "
            f"{_plural(int(now.get('requesters') or 0), 'requester')}"
            for k, was, is_, now in moved[:top]
        ]
        sections.append(("Demand moved most", lines, len(moved)))
    if new:
        lines = [
            f"• {_epic_ref(k, summaries, jira_url)} — {_plural(_requests(now), 'request')} from "
            f"{_plural(int(now.get('requesters') or 0), 'requester')}"
            for k, now in new[:top]
        ]
        sections.append(("New demand", lines, len(new)))
    if shipped:
        lines = [
            f"• {_epic_ref(s.key, {s.key: s.summary, **summaries}, jira_url)}"
            f" — {_plural(s.requesters, 'requester')} to tell (`demandsync requesters {s.key}`)"
            for s in list(shipped)[:top]
        ]
        sections.append(("Shipped", lines, len(shipped)))

    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": "demandsync digest"}}]
    for title, lines, total in sections:
        more = f"\n…and {total - len(lines)} more" if total > len(lines) else ""
        text = f"*{title}*\n" + "\n".join(lines)
        if len(text) + len(more) > _SECTION_MAX:
            text = text[: _SECTION_MAX - len(more) - 1] + "…"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text + more}})
    fallback = "demandsync: " + ", ".join(
        part for part in (
            f"{_plural(len(moved), 'epic')} moved" if moved else "",
            f"{len(new)} with new demand" if new else "",
            f"{len(shipped)} shipped" if shipped else "",
        ) if part)
    return {"text": fallback, "blocks": blocks}


# -- sending -------------------------------------------------------------------------------


class _MaskWebhook(logging.Filter):
    """httpx logs ``HTTP Request: POST <url>`` at INFO; a webhook's secret is its path."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_mask(a) for a in record.args)
        return True


def _mask(value: Any) -> Any:
    if isinstance(value, (str, httpx.URL)) and "://" in str(value):
        try:
            url = httpx.URL(str(value))
        except Exception:  # noqa: BLE001 - not a URL after all
            return value
        if url.host in SLACK_HOSTS:
            return f"{url.scheme}://{url.host}/***"
    return value


def _install_mask() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _MaskWebhook) for f in logger.filters):
        logger.addFilter(_MaskWebhook())


def post_digest(
    webhook_url: SecretStr | str,
    before: Mapping[str, Mapping[str, Any]],
    after: Mapping[str, Mapping[str, Any]],
    epics: Iterable[Epic] | Mapping[str, str],
    shipped: Sequence[ShippedEpic] = (),
    *,
    client: httpx.Client | None = None,
    top: int = 5,
    jira_url: str | None = None,
    timeout: float = 10.0,
) -> bool:
    """Post the digest. True when Slack accepted it; False when there was nothing to tell or the post
    failed (logged, never raised)."""
    try:
        payload = build_digest(before, after, epics, shipped, top=top, jira_url=jira_url)
    except Exception as exc:  # noqa: BLE001 - a digest bug must not fail the run
        log.error("Slack digest not sent: could not build it (%s: %s)", type(exc).__name__, exc)
        return False
    if payload is None:
        log.info("Slack digest: nothing moved, nothing new, nothing shipped; not posted")
        return False
    url = webhook_url.get_secret_value() if isinstance(webhook_url, SecretStr) else str(webhook_url)
    try:
        parsed = httpx.URL(url)
    except Exception:  # noqa: BLE001
        parsed = None
    if parsed is None or parsed.scheme != "https" or not parsed.host:
        log.error("Slack digest not sent: [notify] slack_webhook must be an https:// URL")
        return False
    _install_mask()
    own = client is None
    http = client or httpx.Client(timeout=timeout, follow_redirects=False)
    try:
        response = http.post(url, json=payload)
    except httpx.HTTPError as exc:
        # The exception text may quote the URL: say only what kind of failure it was.
        log.error("Slack digest not sent: %s talking to %s", type(exc).__name__, parsed.host)
        return False
    finally:
        if own:
            http.close()
    if response.status_code != 200:
        reason = " ".join(response.text.split())[:200]  # Slack answers e.g. "no_service", "invalid_payload"
        log.error("Slack digest not sent: HTTP %d from %s (%s)", response.status_code, parsed.host, reason or "-")
        return False
    log.info("Slack digest posted (%s)", payload["text"])
    return True
