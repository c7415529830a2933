"""Printing text demandsync did not write (feedback, accounts, Jira summaries, server errors).

Such text must reach the terminal *literally*: Rich reads ``[bold]``, ``[/]`` and
``[link=…]`` in a string as markup (and raises ``MarkupError`` on an unmatched
closing tag), and a terminal obeys escape sequences (colours, cursor moves,
OSC 8 hyperlinks, window titles) even when the output is piped into ``less -R``
or a log viewer. So every such value goes through :func:`clean` (escape sequences,
control and bidi-override characters removed) and is then either escaped for
markup (:func:`esc`, inside our own f-strings) or wrapped in a :class:`~rich.text.Text`
(:func:`lit`, :class:`LiteralTable` cells), which Rich never parses.
"""

from __future__ import annotations

import re
from typing import Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text

#: ESC/CSI/OSC/DCS sequences (ECMA-48), then any other C0/C1 control except newline and tab,
#: and the Unicode bidi overrides that reorder what a reader sees ("Trojan Source").
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"              # CSI: colours, cursor moves
    r"|\x1b[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC (hyperlinks, titles), DCS, SOS, PM, APC
    r"|\x9b[0-?]*[ -/]*[@-~]"               # 8-bit CSI
    r"|\x1b[ -/]*[0-~]?"                    # any other escape
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean(value: Any) -> str:
    """``value`` as text with escape sequences and control characters removed (newlines and
    tabs kept; a carriage return would let text overwrite what came before it on the line).

    >>> clean("ok\\x1b[31m red\\x1b[0m\\x1b]8;;http://x\\x07link\\x1b]8;;\\x07\\r!")
    'ok redlink!'
    """
    text = "" if value is None else str(value)
    if not text.isprintable():
        text = _CONTROLS.sub("", _ESCAPES.sub("", text))
    return text


def esc(value: Any) -> str:
    """:func:`clean` text escaped for Rich markup, to put inside our own marked-up strings.

    >>> esc("[/bold] and [link=http://x]me[/link]")
    '\\\\[/bold] and \\\\[link=http://x]me\\\\[/link]'
    """
    return escape(clean(value))


def lit(value: Any, style: str = "") -> Text:
    """:func:`clean` text as a Rich ``Text``: printed as it is, never parsed for markup."""
    return Text(clean(value), style=style)


class LiteralTable(Table):
    """A ``Table`` whose string cells and title are shown literally (see the module docstring)."""

    def __init__(self, *args: Any, title: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, title=esc(title) if title is not None else None, **kwargs)

    def add_row(self, *renderables: Any, **kwargs: Any) -> None:
        super().add_row(*(lit(c) if isinstance(c, str) else c for c in renderables), **kwargs)
