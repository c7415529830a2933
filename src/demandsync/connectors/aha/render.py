"""The managed summary in Aha!'s format: HTML, for a comment or a rich-text (note) custom field.

Aha! comment bodies are HTML: ``POST /features/{feature_id}/comments`` takes
``{"comment": {"body": "<p>…</p>"}}`` (https://www.aha.io/openapi.json,
``paths["/features/{feature_id}/comments"].post`` request example), and a ``note``
custom field holds an HTML string (``paths["/releases/{id}"].put`` response example,
``custom_fields[0]``: ``{"type": "note", "value": "<p>sample text</p>"}``).

Everything that came from feedback (quotes, names, accounts, source names) is
untrusted: it is escaped with :func:`html.escape`, and a link is only made of a URL the
engine already checked to be ``http(s)``/``mailto`` (``sync/summary.py``), escaped as an
attribute. The marker ``demandsync/summary/<KEY>/<hash>`` is plain visible text, because
whether Aha! keeps HTML comments or ``data-`` attributes is not documented.

Reading back goes the other way: :func:`html_to_text` turns a body into the plain text
the engine looks for the marker in.
"""

from __future__ import annotations

from datetime import date
from html import escape
from html.parser import HTMLParser

from demandsync.domain import SummaryContent, figure_line, footer, marker, recency_line, requester_line


def summary_html(c: SummaryContent, changed_on: date) -> str:
    """The summary as an HTML fragment (a comment body or a note field's value)."""
    head = "".join(f"<strong>{escape(t)}</strong>" if bold else escape(t) for t, bold in figure_line(c))
    parts = ["<h3>Customer demand</h3>", f"<p>{head}</p>", f"<p>{escape(recency_line(c))}</p>"]
    if c.sources:
        parts.append(f"<p>Sources: {escape(c.sources)}</p>")
    if c.top:
        rows = []
        for r in c.top:
            row = f"<em>“{escape(r.quote)}”</em> — {escape(requester_line(r))}"
            if r.votes > 1:
                row += f" ({r.votes} votes)"
            if r.url:
                row += f' · <a href="{escape(r.url, quote=True)}">source</a>'
            rows.append(f"<li>{row}</li>")
        parts.append("<h4>Top requests</h4><ul>" + "".join(rows) + "</ul>")
    parts.append(f"<hr><p><em>{escape(footer(changed_on))}</em> <code>{escape(marker(c.epic_key, c.digest()))}</code></p>")
    return "".join(parts)


def summary_text(c: SummaryContent, changed_on: date) -> str:
    """The summary as plain lines, for a one-line/text custom field."""
    return html_to_text(summary_html(c, changed_on))


_BLOCKS = frozenset({"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "ul", "ol", "tr", "pre"})


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("• ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(body: str | None) -> str:
    """The visible text of an HTML body, one line per block.

    >>> html_to_text("<p>Hi <b>there</b> &amp; you</p><ul><li>one</li></ul>")
    'Hi there & you\\n• one'
    """
    if not body:
        return ""
    parser = _Text()
    parser.feed(body)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)
