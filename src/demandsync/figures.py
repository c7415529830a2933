"""The demand figures demandsync can write, and the Jira field types each fits.

This is the vocabulary of ``[jira.fields]``: an admin maps a figure name to a
Jira field, and the figure's kind decides which Jira field types accept it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Figure:
    name: str
    #: "number", "date" or "text": what value we produce.
    kind: str
    help: str


_ALL = [
    Figure("requests", "number", "feedback items with an accepted link to the epic"),
    Figure("requesters", "number", "distinct people behind them (anonymous items count one each)"),
    Figure("accounts", "number", "distinct companies/organisations behind them"),
    Figure("votes", "number", "sum of votes, each voter once"),
    Figure("score", "number", "weighted demand (weights by source, attribute, recency)"),
    Figure("last_requested", "date", "date of the newest linked item"),
    Figure("requests_30d", "number", "requests created in the last 30 days"),
    Figure("requests_90d", "number", "requests created in the last 90 days"),
    Figure("sources", "text", "short breakdown by source, e.g. 'canny 12 · hotjar 9'"),
]

FIGURES: dict[str, Figure] = {f.name: f for f in _ALL}

#: Jira ``schema.type`` values that can hold each kind of figure.
ACCEPTED_JIRA_TYPES: dict[str, tuple[str, ...]] = {
    "number": ("number",),
    "date": ("date", "datetime"),
    "text": ("string",),
}
