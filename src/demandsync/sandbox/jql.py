"""A small, real JQL implementation for the sandbox: tokenizer, parser, compiler.

Why a parser and not regexes: clients build JQL by string concatenation, and
the bugs we want the sandbox to catch (an unquoted ``OR`` value, a missing
``AND``, a misspelt field) are exactly the ones a regex would silently accept.
Errors therefore carry Jira's wording, including ``(line 1, character N)``.

Pipeline: :func:`parse` turns text into a :class:`Query` (syntax only);
:func:`compile_query` checks names and values against a :class:`Catalog` and
returns predicates over issue dicts in Jira's JSON shape.

Supported: ``project``, ``issuetype``/``type``, ``key``/``issuekey``/``id``,
``status``, ``statusCategory``, ``labels``, ``parent``, ``created``, ``updated``,
``summary``/``description``/``text`` (``~``), custom fields by name or
``cf[NNNNN]``; ``= != > >= < <= ~ !~ IN, NOT IN, IS [NOT] EMPTY``; ``AND``, ``OR``,
``NOT``, parentheses; ``ORDER BY`` with ``ASC``/``DESC``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

Issue = dict[str, Any]
Predicate = Callable[[Issue], bool]
Getter = Callable[[Issue], Any]

_KEYWORDS = frozenset({"and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc"})
_OPERATORS = ("!=", "!~", ">=", "<=", "=", "~", ">", "<")
_RESERVED_CHARS = frozenset("+;?|*%^$#@&")
_WORD_STOP = frozenset(" \t\r\n()=,!~<>\"'") | _RESERVED_CHARS
_VALID_OPS = ("'=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'")
_DATE_FORMATS = ("%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M", "%Y/%m/%d", "%Y-%m-%d")
_PERIOD = re.compile(r"^([-+]?)((?:\s*\d+\s*[yMwdhm])+)$")
_PERIOD_PART = re.compile(r"(\d+)\s*([yMwdhm])")
_PERIOD_UNITS = {"y": timedelta(days=365), "M": timedelta(days=30), "w": timedelta(weeks=1),
                 "d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}
_STATUS_CATEGORIES = {"new": "new", "to do": "new", "2": "new",
                      "indeterminate": "indeterminate", "in progress": "indeterminate",
                      "4": "indeterminate", "done": "done", "3": "done"}


class JqlError(Exception):
    """Invalid JQL; ``messages`` are Jira's ``errorMessages`` for a 400."""

    def __init__(self, messages: Sequence[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = list(messages)


def _syntax(message: str, pos: int) -> JqlError:
    return JqlError([f"Error in the JQL Query: {message} (line 1, character {pos})"])


@dataclass(frozen=True)
class Catalog:
    """What the compiler must know about the site. Names are casefolded."""

    projects: set[str]  # keys, ids and names
    issue_types: set[str]
    statuses: set[str]
    #: clause name (``cf[10050]`` or the field's name) -> [(field id, schema type)]
    custom_fields: dict[str, list[tuple[str, str]]]
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    issue_exists: Callable[[str], bool] = lambda key: True
    #: Data Center: "Epic Link" is a JQL field that points at the epic (our ``parent``).
    epic_link_names: frozenset[str] = frozenset()


# ---------------------------------------------------------------------------
# Tokens and syntax tree
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # word | string | op | ( | ) | , | eof
    text: str
    pos: int  # 1-based character position, as Jira reports it

    def is_kw(self, *words: str) -> bool:
        return self.kind == "word" and self.text.casefold() in words

    def shown(self) -> str:
        return self.text


@dataclass(frozen=True)
class Clause:
    field: str
    op: str  # = != > >= < <= ~ !~ in "not in" is "is not"
    values: tuple[str, ...]  # empty for IS [NOT] EMPTY
    pos: int


@dataclass(frozen=True)
class BoolOp:
    op: str  # and | or
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    part: Node


Node = Clause | BoolOp | Not


@dataclass(frozen=True)
class SortKey:
    field: str
    descending: bool


@dataclass(frozen=True)
class Query:
    where: Node | None
    order: tuple[SortKey, ...] = ()


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "(),":
            tokens.append(Token(ch, ch, i + 1))
            i += 1
        elif op := next((o for o in _OPERATORS if text.startswith(o, i)), None):
            tokens.append(Token("op", op, i + 1))
            i += len(op)
        elif ch in "\"'":
            i = _read_string(text, i, tokens)
        elif ch in _RESERVED_CHARS or ch == "!":
            raise _syntax(f"The character '{ch}' is a reserved JQL character. You must enclose "
                          f"it in a string or use the escape '\\u{ord(ch):04x}' instead.", i + 1)
        else:
            j = i
            while j < n and (text[j] not in _WORD_STOP or (text[j] == "," and _in_brackets(text, i, j))):
                j += 1
            tokens.append(Token("word", text[i:j], i + 1))
            i = j
    tokens.append(Token("eof", "", n + 1))
    return tokens


def _in_brackets(text: str, start: int, at: int) -> bool:
    return text.rfind("[", start, at) > text.rfind("]", start, at)


def _read_string(text: str, i: int, tokens: list[Token]) -> int:
    quote, j, out = text[i], i + 1, []
    while j < len(text) and text[j] != quote:
        if text[j] == "\\" and j + 1 < len(text):
            j += 1
        out.append(text[j])
        j += 1
    if j >= len(text):
        raise _syntax(f"The quoted string '{text[i + 1:]}' has not been completed.", i + 1)
    tokens.append(Token("string", "".join(out), i + 1))
    return j + 1


class _Parser:
    """Recursive descent: or := and (OR and)*; and := not (AND not)*; not := NOT not | (or) | clause."""

    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        t = self.tokens[self.i]
        self.i += 1
        return t

    def expected(self, what: str) -> JqlError:
        t = self.tok
        if t.kind == "eof":
            return _syntax(f"Expecting {what} but reached the end of the query.", t.pos)
        return _syntax(f"Expecting {what} but got '{t.shown()}'.", t.pos)

    def query(self) -> Query:
        where = None if self.tok.is_kw("order") or self.tok.kind == "eof" else self.or_expr()
        order: list[SortKey] = []
        if self.tok.is_kw("order"):
            self.take()
            if not self.tok.is_kw("by"):
                raise self.expected("'by'")
            self.take()
            order.append(self.sort_key())
            while self.tok.kind == ",":
                self.take()
                order.append(self.sort_key())
        if self.tok.kind != "eof":
            raise self.expected("either 'OR' or 'AND'" if not order else "either ',' or the end of the query")
        return Query(where, tuple(order))

    def or_expr(self) -> Node:
        parts = [self.and_expr()]
        while self.tok.is_kw("or"):
            self.take()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else BoolOp("or", tuple(parts))

    def and_expr(self) -> Node:
        parts = [self.not_expr()]
        while self.tok.is_kw("and"):
            self.take()
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else BoolOp("and", tuple(parts))

    def not_expr(self) -> Node:
        if self.tok.is_kw("not"):
            self.take()
            return Not(self.not_expr())
        if self.tok.kind == "(":
            self.take()
            node = self.or_expr()
            if self.tok.kind != ")":
                raise self.expected("')'")
            self.take()
            return node
        return self.clause()

    def field_name(self) -> Token:
        t = self.tok
        if t.kind == "string" or (t.kind == "word" and t.text.casefold() not in _KEYWORDS):
            return self.take()
        raise self.expected("a field name")

    def clause(self) -> Clause:
        name = self.field_name()
        op = self.operator()
        if op in ("in", "not in"):
            values = self.value_list()
        elif op in ("is", "is not"):
            if not self.tok.is_kw("empty", "null"):
                raise self.expected("'EMPTY' or 'NULL'")
            self.take()
            values = ()
        elif self.tok.is_kw("empty", "null") and op in ("=", "!="):
            self.take()
            op, values = ("is" if op == "=" else "is not"), ()
        else:
            values = (self.value(),)
        return Clause(name.text, op, values, name.pos)

    def operator(self) -> str:
        t = self.tok
        if t.kind == "op":
            return self.take().text
        if t.is_kw("in"):
            self.take()
            return "in"
        if t.is_kw("not"):
            self.take()
            if not self.tok.is_kw("in"):
                raise self.expected("'IN'")
            self.take()
            return "not in"
        if t.is_kw("is"):
            self.take()
            if self.tok.is_kw("not"):
                self.take()
                return "is not"
            return "is"
        raise _syntax(f"Expecting operator but got '{t.shown()}'. The valid operators are "
                      f"{_VALID_OPS}.", t.pos) if t.kind != "eof" else self.expected("operator")

    def value(self) -> str:
        t = self.tok
        if t.kind == "string":
            return self.take().text
        if t.kind == "word" and t.text.casefold() not in _KEYWORDS:
            self.take()
            if self.tok.kind == "(":
                raise JqlError([f"Unable to find JQL function '{t.text}()'."])
            return t.text
        if t.kind == "word":
            raise _syntax(f"Expecting either a value, list or function but got '{t.text}'. You must "
                          f"surround '{t.text}' in quotation marks to use it as a value.", t.pos)
        raise self.expected("either a value, list or function")

    def value_list(self) -> tuple[str, ...]:
        if self.tok.kind != "(":
            raise self.expected("'('")
        self.take()
        values = [self.value()]
        while self.tok.kind == ",":
            self.take()
            values.append(self.value())
        if self.tok.kind != ")":
            raise self.expected("')'")
        self.take()
        return tuple(values)

    def sort_key(self) -> SortKey:
        name = self.field_name()
        desc = False
        if self.tok.is_kw("asc", "desc"):
            desc = self.take().text.casefold() == "desc"
        return SortKey(name.text, desc)


@lru_cache(maxsize=256)
def parse(text: str) -> Query:
    """Syntax tree of ``text``; raises :class:`JqlError` with Jira's message."""
    return _Parser(text).query()


# ---------------------------------------------------------------------------
# Value access on Jira-shaped issues
# ---------------------------------------------------------------------------


@lru_cache(maxsize=65536)
def parse_timestamp(value: str) -> datetime:
    """Jira timestamps (``2022-06-09T16:29:31.871-0700``) and dates, as aware datetimes."""
    dt = datetime.fromisoformat(value)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def key_order(key: str) -> tuple[str, int]:
    """Jira sorts keys by project, then number (PROD-10 after PROD-9)."""
    project, _, num = key.rpartition("-")
    return project, int(num) if num.isdigit() else 0


def _named(*path: str) -> Callable[[Issue], set[str]]:
    """Getter of the casefolded identifiers (name/key/id) of an object field."""
    def get(issue: Issue) -> set[str]:
        obj = issue["fields"].get(path[0])
        if not obj:
            return set()
        for p in path[1:]:
            obj = obj[p]
        return {str(obj.get(k, "")).casefold() for k in ("name", "key", "id") if k in obj}
    return get


def _key_ids(field_name: str) -> Callable[[Issue], set[str]]:
    if field_name == "key":
        return lambda i: {i["key"].casefold(), i["id"]}
    return lambda i: ({i["fields"][field_name]["key"].casefold(), i["fields"][field_name]["id"]}
                      if i["fields"].get(field_name) else set())


def adf_text(node: Any) -> str:
    """Plain text of an Atlassian Document Format node: what ``~`` searches in rich text."""
    if isinstance(node, dict):
        if node.get("type") == "text":
            return str(node.get("text", ""))
        sep = "\n" if node.get("type") in ("doc", "bulletList", "orderedList") else ""
        return sep.join(adf_text(c) for c in node.get("content", ()))
    return ""


def _issue_text(issue: Issue, which: str) -> str:
    f = issue["fields"]
    if which == "summary":
        return f.get("summary") or ""
    if which == "description":
        return adf_text(f.get("description"))
    extra = [v for k, v in f.items() if k.startswith("customfield_") and isinstance(v, str)]
    return " ".join([f.get("summary") or "", adf_text(f.get("description")), *extra])


_WORDS = re.compile(r"[\w*?]+")


def _stem(word: str) -> str:
    for suffix in ("ing", "es", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _text_matcher(query: str) -> Callable[[str], bool]:
    """Jira's ``~``: every term must occur (case-insensitive, crude stemming, ``*`` wildcard)."""
    terms = [t.casefold() for t in _WORDS.findall(query)]

    def match(text: str) -> bool:
        words = {_stem(w) for w in _WORDS.findall(text.casefold())}
        for term in terms:
            if term.endswith("*"):
                if not any(w.startswith(_stem(term[:-1])) for w in words):
                    return False
            elif _stem(term) not in words:
                return False
        return True

    return match


# ---------------------------------------------------------------------------
# Compilation
# ---------------------------------------------------------------------------


@dataclass
class CompiledQuery:
    """A checked query: ``matches(issue)`` and ``sort(issues)``; ``bounded`` if it restricts."""

    matches: Predicate
    sort: Callable[[list[Issue]], list[Issue]]
    bounded: bool


@dataclass
class _Compiler:
    catalog: Catalog
    errors: list[str] = field(default_factory=list)

    # -- where --------------------------------------------------------------

    def node(self, node: Node) -> Predicate:
        if isinstance(node, BoolOp):
            preds = [self.node(p) for p in node.parts]
            if node.op == "and":
                return lambda i: all(p(i) for p in preds)
            return lambda i: any(p(i) for p in preds)
        if isinstance(node, Not):
            inner = self.node(node.part)
            return lambda i: not inner(i)
        return self.clause(node)

    def clause(self, c: Clause) -> Predicate:
        name = c.field.casefold()
        if name in ("project", "issuetype", "type", "status"):
            kind = {"type": "issuetype"}.get(name, name)
            known = {"project": self.catalog.projects, "issuetype": self.catalog.issue_types,
                     "status": self.catalog.statuses}[kind]
            return self.identity(c, _named(kind), known)
        if name == "statuscategory":
            return self.status_category(c)
        if name in ("key", "issuekey", "id", "issue"):
            return self.issue_ref(c, "key")
        if name == "parent" or name in self.catalog.epic_link_names:
            return self.issue_ref(c, "parent")
        if name == "labels":
            return self.labels(c)
        if name in ("created", "createddate", "updated", "updateddate"):
            attr = "created" if name.startswith("created") else "updated"
            return self.ordered(c, lambda i: parse_timestamp(i["fields"][attr]), self.when)
        if name in ("summary", "description", "text"):
            return self.text(c, lambda i: _issue_text(i, name))
        if name in self.catalog.custom_fields:
            return self.custom(c, self.catalog.custom_fields[name])
        self.errors.append(f"Field '{c.field}' does not exist or you do not have permission to view it.")
        return lambda i: False

    def unsupported(self, c: Clause) -> Predicate:
        self.errors.append(f"The operator '{c.op.upper()}' is not supported by the '{c.field}' field.")
        return lambda i: False

    def identity(self, c: Clause, get: Callable[[Issue], set[str]], known: set[str]) -> Predicate:
        """Fields whose values name a thing (project, type, status): =, !=, IN, NOT IN."""
        if c.op not in ("=", "!=", "in", "not in"):
            return self.unsupported(c)
        wanted = {v.casefold() for v in c.values}
        for v in c.values:
            if v.casefold() not in known:
                self.errors.append(f"The value '{v}' does not exist for the field '{c.field}'.")
        positive = c.op in ("=", "in")
        return lambda i: bool(get(i) & wanted) == positive

    def status_category(self, c: Clause) -> Predicate:
        if c.op not in ("=", "!=", "in", "not in"):
            return self.unsupported(c)
        wanted = set()
        for v in c.values:
            if (cat := _STATUS_CATEGORIES.get(v.casefold())) is None:
                self.errors.append(f"The value '{v}' does not exist for the field '{c.field}'.")
            wanted.add(cat)
        positive = c.op in ("=", "in")
        return lambda i: (i["fields"]["status"]["statusCategory"]["key"] in wanted) == positive

    def issue_ref(self, c: Clause, which: str) -> Predicate:
        """``key`` and ``parent``: issue keys or ids; ``!=`` never matches an empty parent."""
        get = _key_ids(which)
        if c.op in ("is", "is not"):
            return lambda i: (not get(i)) == (c.op == "is")
        if c.op not in ("=", "!=", "in", "not in"):
            return self.unsupported(c)
        for v in c.values:
            if not (v.isdigit() or re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*-\d+", v)):
                self.errors.append(f"The issue key '{v}' for field '{c.field}' is invalid.")
            elif not self.catalog.issue_exists(v):
                self.errors.append(f"An issue with key '{v}' does not exist for field '{c.field}'.")
        wanted = {v.casefold() for v in c.values}
        positive = c.op in ("=", "in")
        return lambda i: bool(ids := get(i)) and bool(ids & wanted) == positive

    def labels(self, c: Clause) -> Predicate:
        def get(i: Issue) -> set[str]:
            return {label.casefold() for label in i["fields"].get("labels") or ()}
        if c.op in ("is", "is not"):
            return lambda i: (not get(i)) == (c.op == "is")
        if c.op not in ("=", "!=", "in", "not in"):
            return self.unsupported(c)
        wanted = {v.casefold() for v in c.values}
        positive = c.op in ("=", "in")
        return lambda i: bool(have := get(i)) and bool(have & wanted) == positive

    def text(self, c: Clause, get: Callable[[Issue], str]) -> Predicate:
        if c.op in ("is", "is not") and c.field.casefold() != "text":
            return lambda i: (not get(i).strip()) == (c.op == "is")
        if c.op not in ("~", "!~"):
            return self.unsupported(c)
        match = _text_matcher(c.values[0])
        positive = c.op == "~"
        return lambda i: match(get(i)) == positive

    def ordered(self, c: Clause, get: Getter, convert: Callable[[Clause, str], Any]) -> Predicate:
        """Comparable fields (dates, numbers): = != > >= < <= IN, NOT IN, IS [NOT] EMPTY."""
        def safe(i: Issue) -> Any:
            try:
                return get(i)
            except (KeyError, TypeError, ValueError):
                return None
        if c.op in ("is", "is not"):
            return lambda i: (safe(i) is None) == (c.op == "is")
        if c.op in ("~", "!~"):
            return self.unsupported(c)
        values = [convert(c, v) for v in c.values]
        if any(v is None for v in values):
            return lambda i: False
        compare: dict[str, Callable[[Any, Any], bool]] = {
            "=": lambda a, b: a == b, "!=": lambda a, b: a != b, ">": lambda a, b: a > b,
            ">=": lambda a, b: a >= b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
        }
        if c.op in ("in", "not in"):
            allowed = set(values)
            return lambda i: (v := safe(i)) is not None and (v in allowed) == (c.op == "in")
        cmp, target = compare[c.op], values[0]
        return lambda i: (v := safe(i)) is not None and cmp(v, target)

    def when(self, c: Clause, value: str) -> datetime | None:
        """JQL date literal: ``yyyy-MM-dd[ HH:mm]`` (or ``/``) or a period like ``-7d``, ``4w 2d``."""
        for fmt in _DATE_FORMATS:
            try:
                return datetime.strptime(value, fmt).replace(tzinfo=UTC)
            except ValueError:
                pass
        if m := _PERIOD.match(value.strip()):
            delta = sum((int(n) * _PERIOD_UNITS[u] for n, u in _PERIOD_PART.findall(m[2])), timedelta())
            return self.catalog.now() + (-delta if m[1] == "-" else delta)
        self.errors.append(
            f"Date value '{value}' for field '{c.field}' is invalid. Valid formats include: "
            "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period "
            "format e.g. '-5d', '4w 2d'.")
        return None

    def day(self, c: Clause, value: str) -> date | None:
        when = self.when(c, value)
        return when.date() if when else None

    def number(self, c: Clause, value: str) -> float | None:
        try:
            return float(value)
        except ValueError:
            self.errors.append(f"The value '{value}' is not a valid number for the field '{c.field}'.")
            return None

    def custom(self, c: Clause, targets: list[tuple[str, str]]) -> Predicate:
        """Custom fields by name or ``cf[id]``; a name shared by several fields matches any."""
        preds = [self.one_custom(c, fid, ftype) for fid, ftype in targets]
        return preds[0] if len(preds) == 1 else (lambda i: any(p(i) for p in preds))

    def one_custom(self, c: Clause, fid: str, ftype: str) -> Predicate:
        if ftype == "number":
            return self.ordered(c, lambda i: float(i["fields"][fid]), self.number)
        if ftype == "date":
            return self.ordered(c, lambda i: date.fromisoformat(i["fields"][fid]), self.day)
        if ftype == "datetime":
            return self.ordered(c, lambda i: parse_timestamp(i["fields"][fid]), self.when)
        if ftype == "string":
            return self.text(c, lambda i: i["fields"].get(fid) or "")

        def names(i: Issue) -> set[str]:
            v = i["fields"].get(fid)
            if isinstance(v, dict):
                return {str(v[k]).casefold() for k in ("value", "name", "id", "title") if k in v}
            return {str(v).casefold()} if v is not None else set()
        if c.op in ("is", "is not"):
            return lambda i: (not names(i)) == (c.op == "is")
        if c.op not in ("=", "!=", "in", "not in"):
            return self.unsupported(c)
        wanted = {v.casefold() for v in c.values}
        positive = c.op in ("=", "in")
        return lambda i: bool(n := names(i)) and bool(n & wanted) == positive

    # -- order by -----------------------------------------------------------

    def sort_getter(self, key: SortKey) -> Getter | None:
        name = key.field.casefold()
        fixed: dict[str, Getter] = {
            "key": lambda i: key_order(i["key"]), "issuekey": lambda i: key_order(i["key"]),
            "id": lambda i: int(i["id"]),
            "created": lambda i: parse_timestamp(i["fields"]["created"]),
            "updated": lambda i: parse_timestamp(i["fields"]["updated"]),
            "summary": lambda i: (i["fields"].get("summary") or "").casefold(),
            "project": lambda i: i["fields"]["project"]["key"],
            "issuetype": lambda i: i["fields"]["issuetype"]["name"],
            "type": lambda i: i["fields"]["issuetype"]["name"],
            "status": lambda i: i["fields"]["status"]["name"],
        }
        if name in fixed:
            return fixed[name]
        targets = self.catalog.custom_fields.get(name)
        if targets and targets[0][1] in ("number", "date", "datetime", "string"):
            fid = targets[0][0]
            return lambda i: i["fields"].get(fid)
        if targets or name in ("labels", "parent", "statuscategory", "description", "text"):
            self.errors.append(f"Not able to sort using field '{key.field}'.")
        else:
            self.errors.append(f"Field '{key.field}' does not exist or you do not have permission to view it.")
        return None

    def sorter(self, order: tuple[SortKey, ...]) -> Callable[[list[Issue]], list[Issue]]:
        """Stable multi-key sort; empty values sort as greatest (last ascending, first descending).

        Without ORDER BY, Jira lists newest first, i.e. by key descending.
        """
        keys = order or (SortKey("key", True),)
        getters = [(self.sort_getter(k), k.descending) for k in keys]

        def sort(issues: list[Issue]) -> list[Issue]:
            out = list(issues)
            for get, desc in reversed(getters):
                if get is not None:
                    out.sort(key=_empty_last(get), reverse=desc)
            return out

        return sort


def _empty_last(get: Getter) -> Callable[[Issue], tuple[int, Any]]:
    def key(issue: Issue) -> tuple[int, Any]:
        value = get(issue)
        return (1, 0) if value is None else (0, value)
    return key


def compile_query(query: Query, catalog: Catalog) -> CompiledQuery:
    """Check ``query`` against the site and build its matcher and sorter.

    Raises :class:`JqlError` listing every semantic problem, like Jira does.
    """
    comp = _Compiler(catalog)
    matches = comp.node(query.where) if query.where is not None else (lambda i: True)
    sort = comp.sorter(query.order)
    if comp.errors:
        raise JqlError(comp.errors)
    return CompiledQuery(matches, sort, bounded=query.where is not None)


def compile_jql(text: str, catalog: Catalog) -> CompiledQuery:
    """:func:`parse` then :func:`compile_query`."""
    return compile_query(parse(text), catalog)
