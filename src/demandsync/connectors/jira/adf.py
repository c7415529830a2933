"""Atlassian Document Format (ADF) to plain text, and a little text back to ADF.

Jira Cloud v3 returns rich-text fields (``description``, multi-line custom
fields, comments) as an ADF tree. Linking and similarity need words, not a
tree, so :func:`adf_to_text` flattens it: blocks on their own lines, list items
as ``- ``/``1. ``, table cells joined with `` | ``, mentions/emoji/status by
their visible text, cards by their URL, media dropped. Jira Data Center (v2)
gives plain wiki-markup strings, which pass through unchanged.

:func:`text_to_adf` goes the other way for the comment demandsync manages on
an epic: paragraphs, ``#`` headings, ``-``/``*``/``1.`` lists, fenced code,
and inline ``**bold**``, ``*italic*``, `` `code` `` and ``[text](url)`` links.

>>> adf_to_text({"type": "doc", "version": 1, "content": [
...     {"type": "paragraph", "content": [{"type": "text", "text": "Hello "},
...                                       {"type": "mention", "attrs": {"text": "@Ann"}}]}]})
'Hello @Ann'
>>> text_to_adf("Hi **there**")["content"][0]["content"]
[{'type': 'text', 'text': 'Hi '}, {'type': 'text', 'text': 'there', 'marks': [{'type': 'strong'}]}]
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

# Nodes whose children are laid out one below the other.
_BLOCKS = frozenset({
    "doc", "paragraph", "heading", "blockquote", "codeBlock", "panel", "expand", "nestedExpand",
    "layoutSection", "layoutColumn", "bodiedExtension", "decisionList", "taskList", "mediaSingle",
    "mediaGroup", "table",
})
_LISTS = frozenset({"bulletList", "orderedList", "taskList", "decisionList"})
_BLOCK_LIKE = _BLOCKS | _LISTS | {"table", "rule", "listItem", "taskItem", "decisionItem"}
# Nodes without children that still show text.
_INLINE_ATTR_TEXT = {"mention": "text", "emoji": "text", "status": "text", "placeholder": "text"}
_TRAILING_BLANKS = re.compile(r"[ \t]+\n")
_BLANK_LINES = re.compile(r"\n{3,}")


def adf_to_text(value: Any) -> str:
    """Plain text of an ADF document (or of a string, returned stripped; None → "")."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if not isinstance(value, dict):
        return str(value)
    text = _render(value, prefix="")
    # Most descriptions have no line ending in blanks and no run of three line ends: each
    # regex scans the whole text to find nothing (1.3 and 0.9 us for a 140-character
    # paragraph), the substring tests cost 0.1 us. A match of the first holds " \n" or "\t\n",
    # of the second "\n\n\n", so the text is the same either way.
    if " \n" in text or "\t\n" in text:
        text = _TRAILING_BLANKS.sub("\n", text)
    if "\n\n\n" in text:
        text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()


def _children(node: dict[str, Any]) -> list[dict[str, Any]]:
    content = node.get("content")
    return [c for c in content if isinstance(c, dict)] if isinstance(content, list) else []


def _inline(node: dict[str, Any]) -> str:
    kind = node.get("type")
    attrs = found if isinstance(found := node.get("attrs"), dict) else {}
    if kind == "text":
        return str(node.get("text", ""))
    if kind == "hardBreak":
        return "\n"
    if kind in _INLINE_ATTR_TEXT:
        shown = attrs.get(_INLINE_ATTR_TEXT[kind]) or attrs.get("shortName") or ""
        return str(shown)
    if kind in ("inlineCard", "blockCard", "embedCard"):
        return str(attrs.get("url", ""))
    if kind == "date":
        try:
            return datetime.fromtimestamp(int(attrs["timestamp"]) / 1000, tz=UTC).date().isoformat()
        except (KeyError, TypeError, ValueError):
            return ""
    if kind in ("media", "mediaInline"):
        return ""
    return "".join(_inline(c) for c in _children(node))


def _render(node: dict[str, Any], prefix: str) -> str:
    kind = node.get("type")
    children = _children(node)
    if kind in _LISTS:
        attrs = found if isinstance(found := node.get("attrs"), dict) else {}
        start = int(attrs.get("order") or 1)
        lines = [
            _render_item(item, prefix, f"{start + i}. " if kind == "orderedList" else "- ")
            for i, item in enumerate(children)
        ]
        return "\n".join(lines) + "\n\n"
    if kind == "table":
        return "\n".join(_render_row(row) for row in children) + "\n\n"
    if kind == "rule":
        return "\n"
    if any(c.get("type") in _BLOCK_LIKE for c in children):  # a container of blocks
        return "".join([_render(c, prefix) for c in children])
    if kind in _BLOCK_LIKE:  # a block holding inline content
        # _inline(node) would find the children again and test the kind against inline kinds that no
        # block is: a one-paragraph description renders in 2.1 us instead of 2.5 (join gets a list, as
        # it would build one anyway).
        return "".join([_inline(c) for c in children]) + "\n\n"
    return _inline(node)


def _render_item(item: dict[str, Any], prefix: str, marker: str) -> str:
    parts = []
    for child in _children(item) or [item]:
        if child.get("type") in _LISTS:
            parts.append(_render(child, prefix + "  ").rstrip("\n"))
        else:
            parts.append(_inline(child).strip())
    head, *rest = [p for p in parts if p] or [""]
    nested = [("\n" + p if p.startswith(prefix + "  ") else "\n" + prefix + "  " + p) for p in rest]
    return prefix + marker + head + "".join(nested)


def _render_row(row: dict[str, Any]) -> str:
    cells = [" ".join(adf_to_text({"type": "doc", "content": _children(c)}).split()) for c in _children(row)]
    return " | ".join(cells)


# -- text → ADF ---------------------------------------------------------------

_INLINE_RE = re.compile(
    r"\[(?P<ltext>[^\]]+)\]\((?P<href>https?://[^)\s]+)\)"
    r"|\*\*(?P<strong>[^*]+)\*\*"
    r"|`(?P<code>[^`]+)`"
    r"|(?<![\w*])\*(?P<em>[^*\s][^*]*)\*(?!\w)"
    r"|(?P<url>https?://[^\s)]+)"
)


def _text_nodes(line: str) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    pos = 0
    for m in _INLINE_RE.finditer(line):
        if m.start() > pos:
            nodes.append({"type": "text", "text": line[pos:m.start()]})
        if m.group("ltext"):
            nodes.append({"type": "text", "text": m.group("ltext"), "marks": [{"type": "link", "attrs": {"href": m.group("href")}}]})
        elif m.group("strong"):
            nodes.append({"type": "text", "text": m.group("strong"), "marks": [{"type": "strong"}]})
        elif m.group("code"):
            nodes.append({"type": "text", "text": m.group("code"), "marks": [{"type": "code"}]})
        elif m.group("em"):
            nodes.append({"type": "text", "text": m.group("em"), "marks": [{"type": "em"}]})
        else:
            url = m.group("url").rstrip(".,;:")
            nodes.append({"type": "text", "text": url, "marks": [{"type": "link", "attrs": {"href": url}}]})
            if len(url) < len(m.group("url")):
                nodes.append({"type": "text", "text": m.group("url")[len(url):]})
        pos = m.end()
    if pos < len(line):
        nodes.append({"type": "text", "text": line[pos:]})
    return nodes


def _paragraph(lines: list[str]) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for i, line in enumerate(lines):
        if i:
            content.append({"type": "hardBreak"})
        content += _text_nodes(line)
    return {"type": "paragraph", "content": content} if content else {"type": "paragraph"}


_BULLET = re.compile(r"^\s*[-*]\s+(.*)$")
_ORDERED = re.compile(r"^\s*(\d+)[.)]\s+(.*)$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")


def text_to_adf(text: str) -> dict[str, Any]:
    """An ADF ``doc`` for markdown-ish ``text`` (see the module docstring)."""
    blocks: list[dict[str, Any]] = []
    lines = text.replace("\r\n", "\n").split("\n")
    i = 0
    para: list[str] = []

    def flush() -> None:
        if para:
            blocks.append(_paragraph(para))
            para.clear()

    while i < len(lines):
        line = lines[i]
        if line.strip().startswith("```"):
            flush()
            language = line.strip()[3:].strip()
            body: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                body.append(lines[i])
                i += 1
            node: dict[str, Any] = {"type": "codeBlock", "content": [{"type": "text", "text": "\n".join(body)}] if body else []}
            if language:
                node["attrs"] = {"language": language}
            blocks.append(node)
            i += 1
            continue
        if not line.strip():
            flush()
        elif m := _HEADING.match(line):
            flush()
            blocks.append({"type": "heading", "attrs": {"level": len(m.group(1))}, "content": _text_nodes(m.group(2))})
        elif _BULLET.match(line) or _ORDERED.match(line):
            flush()
            ordered = bool(_ORDERED.match(line))
            pattern = _ORDERED if ordered else _BULLET
            items: list[dict[str, Any]] = []
            while i < len(lines) and (m2 := pattern.match(lines[i])):
                items.append({"type": "listItem", "content": [_paragraph([m2.group(m2.lastindex or 1)])]})
                i += 1
            lst: dict[str, Any] = {"type": "orderedList" if ordered else "bulletList", "content": items}
            if ordered:
                lst["attrs"] = {"order": int(_ORDERED.match(line).group(1))}  # type: ignore[union-attr]
            blocks.append(lst)
            continue
        else:
            para.append(line)
        i += 1
    flush()
    return {"type": "doc", "version": 1, "content": blocks}
