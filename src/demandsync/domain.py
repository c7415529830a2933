"""The domain objects every stage passes around.

They are plain dataclasses on purpose: pydantic lives at the edges (config,
API payloads), and inside the pipeline a newcomer should see data, not magic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# How an item came to be linked to an epic, strongest first. A manual decision
# always wins; the rest are recomputed on every run.
LINK_METHODS = ("manual", "explicit", "rule", "similarity")
LINK_STATES = ("accepted", "suggested", "rejected")


@dataclass(slots=True)
class FeedbackItem:
    """One piece of customer feedback, as the mapping engine made it.

    Identity is ``(source, external_id)``: re-importing the same row or API
    object updates this item instead of adding a second one.
    """

    source: str
    external_id: str
    text: str
    requester: str | None = None
    account: str | None = None
    created_at: datetime | None = None
    url: str | None = None
    tags: list[str] = field(default_factory=list)
    epic_hint: list[str] = field(default_factory=list)
    votes: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Epic:
    """A Jira epic as demandsync needs it: text to link against, and the
    current values of the fields it writes."""

    key: str
    id: str
    summary: str
    description: str = ""
    labels: list[str] = field(default_factory=list)
    status_category: str | None = None
    project: str | None = None
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Quarantined:
    """A record that could not become a FeedbackItem, kept with a reason an
    admin can act on. ``locator`` says where it came from (file and row, or
    API object id)."""

    source: str
    locator: str
    reason: str
    raw: str = ""
