"""The managed summary in Jira's formats: ADF for Cloud, wiki markup for Data Center.

What the summary says (:class:`~demandsync.domain.SummaryContent`) is decided by the
engine (``sync/summary.py``); this module only renders it, node by node (doc, heading,
paragraph, bulletList, listItem, rule, text with strong/em/code/link marks) or as wiki
markup with every special character of untrusted text escaped.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from demandsync.domain import SummaryContent, figure_line, footer, marker, recency_line, requester_line

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
        _para(*[_t(text, strong) if bold else _t(text) for text, bold in figure_line(c)]),
        _para(_t(recency_line(c))),
    ]
    if c.sources:
        blocks.append(_para(_t("Sources: "), _t(c.sources)))
    if c.top:
        blocks.append(_heading(4, "Top requests"))
        items = []
        for r in c.top:
            nodes = [_t(f"“{r.quote}”", em), _t(f" — {requester_line(r)}")]
            if r.votes > 1:
                nodes.append(_t(f" ({r.votes} votes)"))
            if r.url:
                nodes += [_t(" · "), _t("source", {"type": "link", "attrs": {"href": r.url}})]
            items.append({"type": "listItem", "content": [_para(*nodes)]})
        blocks.append({"type": "bulletList", "content": items})
    blocks += [
        {"type": "rule"},
        _para(_t(footer(changed_on), em), _t(" "), _t(marker(c.epic_key, c.digest()), code)),
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
    head = "".join(f"*{t}*" if bold else t for t, bold in figure_line(c))  # our own words and digits
    lines = ["h3. Customer demand", head, recency_line(c)]
    if c.sources:
        lines.append("Sources: " + wiki_escape(c.sources))
    blocks = ["\n".join(lines)]
    if c.top:
        rows = []
        for r in c.top:
            row = f"* _“{wiki_escape(r.quote)}”_ — {wiki_escape(requester_line(r))}"
            if r.votes > 1:
                row += f" ({r.votes} votes)"
            if r.url:
                row += f" · [source|{_wiki_url(r.url)}]"
            rows.append(row)
        blocks.append("h4. Top requests\n" + "\n".join(rows))
    blocks.append(f"----\n_{footer(changed_on)}_ {{{{{marker(c.epic_key, c.digest())}}}}}")
    return "\n\n".join(blocks)




def render_summary(content: SummaryContent, changed_on: date, *, cloud: bool, plain: bool = False) -> dict[str, Any] | str:
    """The body for a comment or field: ADF on Cloud (or its plain text for a string field), wiki on DC."""
    if not cloud:
        return summary_wiki(content, changed_on)
    doc = summary_adf(content, changed_on)
    if plain:
        from demandsync.connectors.jira.adf import adf_to_text

        return adf_to_text(doc)
    return doc
