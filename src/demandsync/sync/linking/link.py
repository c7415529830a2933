"""Linking: which epic does each feedback item ask for?

Precedence per (item, epic), strongest first:

1. **manual** — a human linked or rejected it (``demandsync link/unlink/review``);
   stored, never overwritten by a run.
2. **explicit** — a Jira key of a selected epic in the item's mapped ``epic``
   column or anywhere in its text.
3. **rule** — an admin ``[[rules]]`` keyword, case-insensitive, whole word.
4. **similarity** — the text resembles the epic (summary, description, labels,
   and items a PM already accepted). Only for items nothing above linked;
   accepted at ``linking.auto_accept``, queued for review at ``linking.suggest``.

Linking is incremental: each item remembers the fingerprint of the linker
that linked it (rules, epics, model). Only items whose fingerprint differs
are linked: new or changed items, or all of them once a rule or epic changed.
A crash half-way simply leaves the rest for the next run.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from demandsync.config import LinkingConfig, RuleConfig
from demandsync.domain import ACCEPTED, EXPLICIT, RULE, SIMILARITY, SUGGESTED, Epic, ItemToLink, Link
from demandsync.keys import find_issue_keys
from demandsync.sync.linking.similarity import EpicProfile, SimilarityModel, SimilarityParams
from demandsync.sync.store.store import Store

_WORD = re.compile(r"\w+")


@dataclass(slots=True)
class CompiledRule:
    epic: str
    pattern: re.Pattern[str]
    sources: frozenset[str] | None
    #: Lower-cased first word of each keyword: a text without any of them cannot match,
    #: so the linker skips the regex (40 rules x 100,000 items made every run pay 40 scans).
    #: None when a keyword does not start with a word character: always scan.
    first_words: frozenset[str] | None

    @classmethod
    def build(cls, rule: RuleConfig) -> CompiledRule:
        words = sorted({k.strip() for k in rule.keywords if k.strip()}, key=len, reverse=True)
        alternatives = "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in words)
        firsts = [_WORD.match(w.lower()) for w in words]
        return cls(rule.epic, re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE),
                   frozenset(rule.sources) if rule.sources else None,
                   frozenset(m.group(0) for m in firsts if m) if all(firsts) else None)

    def matches(self, source: str, text: str) -> str | None:
        """The keyword found in ``text``, if this rule applies to ``source``."""
        if self.sources is not None and source not in self.sources:
            return None
        m = self.pattern.search(text)
        return m.group(0) if m else None


@dataclass(slots=True)
class LinkStats:
    linked_items: int = 0
    relinked_all: bool = False
    #: Rules naming an epic the epic JQL does not select (they link nothing).
    rules_without_epic: list[str] = field(default_factory=list)


class AutoLinker:
    """Computes the automatic links of items against one set of epics."""

    def __init__(
        self,
        epics: Sequence[Epic],
        rules: Sequence[RuleConfig],
        linking: LinkingConfig,
        accepted_texts: dict[str, list[str]] | None = None,
    ) -> None:
        self.epic_keys = {e.key for e in epics}
        self.rules = [CompiledRule.build(r) for r in rules if r.epic in self.epic_keys]
        self.rules_without_epic = sorted({r.epic for r in rules if r.epic not in self.epic_keys})
        # Rules indexed by the first word of their keywords: an item only tries the rules
        # whose words it contains (40 rules x 100,000 items were 4 million regex calls).
        self._always = [r for r in self.rules if r.first_words is None]
        self._by_word: dict[str, list[CompiledRule]] = {}
        for rule in self.rules:
            for word in rule.first_words or ():
                self._by_word.setdefault(word, []).append(rule)
        self._first_words = frozenset(self._by_word)
        self.linking = linking
        self._epics = list(epics) if linking.similarity else []
        self._accepted = accepted_texts or {}
        self._model: SimilarityModel | None = None
        self.fingerprint = self._fingerprint(rules)

    @property
    def model(self) -> SimilarityModel | None:
        """The similarity model, fitted on first use: a run with nothing to link never pays for it."""
        if self._model is None and self._epics:
            self._model = build_model(self._epics, self._accepted)
        return self._model

    def _fingerprint(self, rules: Sequence[RuleConfig]) -> str:
        """Changes exactly when an item's links could: epics, their text, rules, settings, accepted texts."""
        profiles = [[e.key, e.summary, e.description, sorted(e.labels), self._accepted.get(e.key, [])]
                    for e in sorted(self._epics, key=lambda e: e.key)]
        payload: dict[str, Any] = {
            "epics": sorted(self.epic_keys),
            "rules": [r.model_dump() for r in rules],
            "linking": self.linking.model_dump(),
            "profiles": profiles,
            "model": repr(SimilarityParams()),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]

    def link(self, batch: Sequence[ItemToLink]) -> list[Link]:
        """The automatic links of a batch of items."""
        out: list[Link] = []
        unlinked: list[tuple[int, str]] = []
        for item in batch:
            item_id, source, text = item.item_id, item.source, item.text
            found: dict[str, Link] = {}
            for key in [*item.epic_hint, *find_issue_keys(text)]:
                if key in self.epic_keys and key not in found:
                    found[key] = Link(item_id, key, EXPLICIT, ACCEPTED, 1.0)
            for rule in self._candidate_rules(text):
                if rule.epic not in found and (word := rule.matches(source, text)):
                    found[rule.epic] = Link(item_id, rule.epic, RULE, ACCEPTED, 1.0, f"keyword {word!r}")
            out.extend(found.values())
            if not found:
                unlinked.append((item_id, text))
        if self._epics and unlinked:
            out.extend(self._similar(unlinked))
        return out

    def _candidate_rules(self, text: str) -> list[CompiledRule]:
        """The rules that can match ``text``, in config order (the regex decides)."""
        if not self._first_words:
            return self._always
        if not text.isascii():  # case folding and \w could disagree with the rule's own regex
            return self.rules
        present = self._first_words.intersection(_WORD.findall(text.lower()))  # set work in C, not per word
        hits = {id(r) for w in present for r in self._by_word[w]}
        if not hits:
            return self._always
        return [r for r in self.rules if id(r) in hits or r.first_words is None]

    def _similar(self, items: list[tuple[int, str]]) -> list[Link]:
        assert self.model is not None
        cfg = self.linking
        out = []
        candidates = self.model.score([t for _, t in items], top_k=3, min_score=cfg.suggest)
        for (item_id, _), cands in zip(items, candidates, strict=True):
            for c in cands:
                state = ACCEPTED if c.score >= cfg.auto_accept else SUGGESTED
                out.append(Link(item_id, c.epic_key, SIMILARITY, state, round(float(c.score), 4)))
        return out


def build_model(epics: Sequence[Epic], accepted_texts: dict[str, list[str]]) -> SimilarityModel:
    """The similarity model fitted on the epics' text and the feedback PMs accepted for them."""
    return SimilarityModel().fit({
        e.key: EpicProfile(e.summary, e.description, list(e.labels), accepted_texts.get(e.key, []))
        for e in epics
    })


def link_items(store: Store, epics: Sequence[Epic], rules: Sequence[RuleConfig], linking: LinkingConfig) -> LinkStats:
    """Bring every item's automatic links up to date with the current linker."""
    linker = AutoLinker(epics, rules, linking, store.accepted_texts() if linking.similarity else None)
    meta = store.get_meta("linker") or {}
    stats = LinkStats(relinked_all=meta.get("fingerprint") != linker.fingerprint,
                      rules_without_epic=linker.rules_without_epic)
    for batch in store.items_to_link(linker.fingerprint):
        rows = linker.link(batch)
        store.replace_auto_links([b.item_id for b in batch], rows, linker.fingerprint)
        stats.linked_items += len(batch)
    store.set_meta("linker", {"fingerprint": linker.fingerprint})
    return stats
