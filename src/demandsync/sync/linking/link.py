"""Linking: which epic does each feedback item ask for?

Precedence per (item, epic), strongest first:

1. **manual** — a human linked or rejected it (``demandsync link/unlink/review``);
   stored, never overwritten by a run.
2. **explicit** — a Jira key of a selected epic in the item's mapped ``epic``
   column or anywhere in its text.
3. **rule** — an admin ``[[rules]]`` keyword, case-insensitive, whole word.
4. **similarity** — the text resembles the epic (summary, description, labels,
   and items a PM already accepted; items a PM rejected for it push back).
   Only for items nothing above linked; accepted at ``linking.auto_accept``,
   queued for review at ``linking.suggest``.

Learning: every manual decision (``link``, ``unlink``, ``review``, ``links
import``, the PM page: all go through ``Store.decide_link``) is read back by
``learned_from`` on the next run or ``suggest``: accepted texts widen the
epic's profile, rejected ones push it back, and the fingerprint changes, so
every item is relinked with what was learned. Word weights (IDF) also count
a sample of the stored items (``background_texts``), so words every item
says ("love", the product's name) weigh little; the sample is refreshed only
when the store has doubled or halved, since a new sample relinks everything.

Linking is incremental: each item remembers the fingerprint of the linker
that linked it (rules, epics, model). Only items whose fingerprint is not
current are linked: new or changed items, or all of them once a rule or epic
changed (but not the items a key or rule claimed when only epic texts,
decisions or the model changed: their links cannot differ). When only epic
texts or decisions changed, not every unclaimed item is scored again either:
the last model's per-stem snapshot (``meta["linker_scores"]``) tells which
texts the refitted model scores to the same bits (``similarity.UnchangedScores``:
no word of theirs changed meaning or weight), and those keep their links
unread. Only links that come out different are written, and an item whose
links did not change keeps its fingerprint, which stays current (see
``link_items``). A crash half-way simply leaves the rest for the next run.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from demandsync.config import LinkingConfig, RuleConfig
from demandsync.domain import ACCEPTED, EXPLICIT, RULE, SIMILARITY, SUGGESTED, Epic, ItemToLink, Link
from demandsync.keys import find_issue_keys
from demandsync.sync import collector
from demandsync.sync.store.store import Store

if TYPE_CHECKING:  # imported when a model is built: numpy and scipy cost ~0.2 s a run otherwise
    from demandsync.sync.linking.similarity import Candidate, SimilarityModel, UnchangedScores

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
        return self.keyword_in(text)

    def keyword_in(self, text: str) -> str | None:
        """The keyword found in ``text``, whatever its source."""
        m = self.pattern.search(text)
        return m.group(0) if m else None


#: What a text claims: the issue keys it says, and each rule whose keyword it says with that keyword.
_Claims = tuple[list[str], list[tuple[CompiledRule, str]]]


#: ASCII byte -> itself when the rules' regexes count it a word character (``\w``: letters, digits,
#: "_"), and the line break between two texts; any other byte -> a space.
_RULE_WORD_BYTES = bytes(c if c == 10 or re.fullmatch(r"\w", chr(c)) else 32 for c in range(256))


@dataclass(slots=True)
class LinkStats:
    #: Items looked at (new, changed, or not current for this linker).
    linked_items: int = 0
    #: The linker changed since the last run: every item whose links it could change was looked at.
    relinked_all: bool = False
    #: Items not current for this linker that kept their links unread: the refitted model provably
    #: scores their texts to the same bits as the last one (``similarity.UnchangedScores``).
    unchanged_items: int = 0
    #: Rules naming an epic the epic JQL does not select (they link nothing).
    rules_without_epic: list[str] = field(default_factory=list)


#: Items the model scores at a time (per thread): its dense (items x 2 * epics) matrices at 2,048
#: were the link stage's peak memory (+132 MB at 2,000 epics; +38 MB at 512, as fast, same scores:
#: chunk size is not part of the model's identity).
SCORE_CHUNK = 512

#: Texts an AutoLinker remembers the claims and the candidates of (~5 MB each): the first met,
#: which are the ones survey answers repeat most.
REMEMBERED_TEXTS = 20_000

_V = TypeVar("_V")


class _PerText(Generic[_V]):
    """What a linker found for each distinct text, remembered for the first ``REMEMBERED_TEXTS``
    texts it met (survey answers repeat, across batches too; what a text claims or scores depends on
    the text alone, for the linker's life)."""

    def __init__(self) -> None:
        self._known: dict[str, _V] = {}

    def of(self, texts: Iterable[str], find: Callable[[list[str]], Iterable[_V]]) -> dict[str, _V]:
        """``text -> result`` for these texts: ``find`` is called once, with the distinct texts
        not remembered, and as many of those as there is room for are remembered."""
        known, distinct = self._known, dict.fromkeys(texts)
        new = [t for t in distinct if t not in known]
        found = dict(zip(new, find(new), strict=True)) if new else {}
        for text in new[:max(0, REMEMBERED_TEXTS - len(known))]:
            known[text] = found[text]
        return {t: found[t] if t in found else known[t] for t in distinct}  # (a dict: read per item)


#: Bumped whenever finding an epic key in a text or matching a rule changes meaning (``keys.py``,
#: ``CompiledRule``): it is part of both fingerprints, so an upgrade relinks the items a key or a
#: rule claimed too (the claimed-items skip in ``link_items`` trusts their links otherwise).
CLAIM_VERSION = "1"

#: How many stored items the word weights count (a deterministic, evenly spread sample).
BACKGROUND_SIZE = 2000
#: Below this many items, word weights count the epics only: in a store of a dozen answers
#: that all ask for dark mode, "dark" is not a common word, it is the request.
BACKGROUND_MIN = 200


@dataclass(slots=True)
class Learned:
    """What the similarity model takes from the store besides the epics."""

    accepted: dict[str, list[str]] = field(default_factory=dict)
    rejected: dict[str, list[str]] = field(default_factory=dict)
    background: list[str] = field(default_factory=list)


def background_texts(store: Store, refresh: bool = True) -> list[str]:
    """Texts of the item sample the word weights count.

    The sample's ids are kept in the store's meta and drawn again only when
    the number of live items has doubled or halved since (``refresh=False``,
    for read-only commands, draws without saving): a new sample changes the
    linker's fingerprint, which relinks every item. None drawn yet (a first link): the read that
    draws it counts the live items too.
    """
    meta = store.get_meta("linker_background") or {}
    ids: list[int] | None = meta.get("ids")
    drawn = ids is None
    if ids is None:
        ids, count = store.item_sample(BACKGROUND_SIZE)
    else:
        count = store.count_items()
    if count < BACKGROUND_MIN:
        return []
    base = int(meta.get("items", 0))
    if not drawn and (count >= 2 * base or 2 * count < base):
        ids, count = store.item_sample(BACKGROUND_SIZE)
        drawn = True
    if drawn and refresh:
        store.set_meta("linker_background", {"ids": ids, "items": count})
    return store.texts_of(ids)


def learned_from(store: Store, refresh: bool = True) -> Learned:
    """Manual decisions and the background sample, as the model needs them (oldest first)."""
    return Learned(
        accepted={k: v[::-1] for k, v in store.accepted_texts().items()},
        rejected={k: v[::-1] for k, v in store.rejected_texts().items()},
        background=background_texts(store, refresh),
    )


class AutoLinker:
    """Computes the automatic links of items against one set of epics."""

    def __init__(
        self,
        epics: Sequence[Epic],
        rules: Sequence[RuleConfig],
        linking: LinkingConfig,
        learned: Learned | None = None,
        model: dict[str, Any] | None = None,
    ) -> None:
        """``model``: the similarity model's identity (``similarity.model_identity()``), when the
        caller has it without importing the model (``link_items``: :func:`stored_model_identity`)."""
        self.epic_keys = {e.key for e in epics}
        self.rules = [CompiledRule.build(r) for r in rules if r.epic in self.epic_keys]
        self.rules_without_epic = sorted({r.epic for r in rules if r.epic not in self.epic_keys})
        # Rules indexed by the first word of their keywords: an item only tries the rules
        # whose words it contains (40 rules x 100,000 items were 4 million regex calls).
        self._always = [r for r in self.rules if r.first_words is None]
        always = [n for n, r in enumerate(self.rules) if r.first_words is None]
        by_word: dict[str, set[int]] = {}
        for n, rule in enumerate(self.rules):
            for word in rule.first_words or ():
                by_word.setdefault(word, set(always)).add(n)
        #: first word (UTF-8) -> positions (config order) of the rules to try when a text has it, the
        #: always-scanned ones included: an item's candidates are one union and one sort of small ints.
        self._by_word = {w.encode(): frozenset(ns) for w, ns in by_word.items()}
        self._first_words = frozenset(self._by_word)
        self.linking = linking
        self._epics = list(epics) if linking.similarity else []
        self._learned = learned or Learned()
        self._model: SimilarityModel | None = None
        #: what each text claims (keys, rule keywords) and its similarity candidates: see _PerText
        self._claimed: _PerText[_Claims] = _PerText()
        self._scored: _PerText[list[Candidate]] = _PerText()
        #: ``base_fingerprint``: everything but the epics' texts and decisions. While it stays, a changed
        #: linker changes only similarity scores, and only of the texts ``UnchangedScores`` cannot vouch for.
        self.base_fingerprint, self.fingerprint = self._fingerprints(rules, model)
        #: What an item claimed by a key or a rule is linked by: the epic keys and the rules. An epic's
        #: text, the decisions and the model change only the links of items nothing claimed.
        self.claim_fingerprint = hashlib.sha256(json.dumps(
            {"epics": sorted(self.epic_keys), "rules": [r.model_dump() for r in rules], "claim": CLAIM_VERSION},
            sort_keys=True,
        ).encode()).hexdigest()[:32]

    @property
    def fitted_model(self) -> SimilarityModel | None:
        """The similarity model if this linker fitted it (it never fits one for this)."""
        return self._model

    @property
    def model(self) -> SimilarityModel | None:
        """The similarity model, fitted on first use: a run with nothing to link never pays for it."""
        if self._model is None and self._epics:
            self._model = build_model(self._epics, self._learned)
        return self._model

    def _fingerprints(self, rules: Sequence[RuleConfig], model: dict[str, Any] | None) -> tuple[str, str]:
        """(base, full): the full one changes exactly when an item's links could (epics, their text,
        rules, settings, accepted texts); the base one leaves out the epics' texts and decisions."""
        learned = self._learned
        profiles = [[e.key, e.summary, e.description, sorted(e.labels), learned.accepted.get(e.key, []),
                     learned.rejected.get(e.key, [])] for e in sorted(self._epics, key=lambda e: e.key)]
        background = hashlib.sha256("\0".join(learned.background).encode()).hexdigest() if self._epics else ""
        if not self.linking.similarity:
            model = {}  # the model decides no link: such a run never imports numpy and scipy for it
        elif model is None:
            model = _model_identity()
        payload: dict[str, Any] = {
            "epics": sorted(self.epic_keys),
            "rules": [r.model_dump() for r in rules],
            "claim": CLAIM_VERSION,
            "linking": self.linking.model_dump(),
            "background": background,
            "model": model,
        }
        base = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]
        payload["profiles"] = profiles
        return base, hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]

    def link(self, batch: Sequence[ItemToLink]) -> list[Link]:
        """The automatic links of a batch of items."""
        out: list[Link] = []
        unlinked: list[tuple[int, str]] = []
        # (the store knows no key or rule links an unclaimed item: see ItemToLink)
        claims = self._claims([item.text for item in batch if not item.unclaimed])
        for item in batch:
            item_id, text = item.item_id, item.text
            if item.unclaimed:
                unlinked.append((item_id, text))
                continue
            keys, keywords = claims[text]
            if not (keys or keywords or item.epic_hint):  # most items: nothing to check
                unlinked.append((item_id, text))
                continue
            source = item.source
            found: dict[str, Link] = {}
            for key in [*item.epic_hint, *keys] if keys else item.epic_hint:
                if key in self.epic_keys and key not in found:
                    found[key] = Link(item_id, key, EXPLICIT, ACCEPTED, 1.0)
            for rule, word in keywords:
                if rule.epic not in found and (rule.sources is None or source in rule.sources):
                    found[rule.epic] = Link(item_id, rule.epic, RULE, ACCEPTED, 1.0, f"keyword {word!r}")
            out.extend(found.values())
            if not found:
                unlinked.append((item_id, text))
        if self._epics and unlinked:
            out.extend(self._similar(unlinked))
        return out

    def _claims(self, texts: Sequence[str]) -> dict[str, _Claims]:
        """Per text: the issue keys it says, and the rules whose keyword it says (config order)
        with that keyword, whatever the item's source (``link`` checks the rule's sources).

        Each distinct text is looked at once per linker (``_PerText``): the bench's 100,000 items
        say 48,000 texts (batch by batch, 64,500)."""
        def find(new: list[str]) -> list[_Claims]:
            return [(find_issue_keys(text) if "-" in text else [],  # (a key has a dash: most texts skip it)
                     [(rule, word) for rule in rules if (word := rule.keyword_in(text))])
                    for text, rules in zip(new, self._candidate_rules(new), strict=True)]
        return self._claimed.of(texts, find)

    def _candidate_rules(self, texts: Sequence[str]) -> list[list[CompiledRule]]:
        """The rules that can match each text, in config order (the regex decides).

        The batch's ASCII texts, lower-cased and joined by line breaks, are split into words (runs
        of ``\\w``, as the rules' regexes bound them) by ``bytes.translate`` and ``bytes.split`` (C
        loops), and a text tries the rules whose first word it says. For bench/run.py's 53,000
        texts and 40 rules this took 0.155 s CPU as a regex scan of the joined texts for the rules'
        58 first words (0.12 s of it the scan), 0.09 s now; a tokenizer per text was slower still. A text that is not ASCII
        tries every rule: case folding and ``\\w`` could disagree with the rule's regex."""
        if not self._first_words:
            return [self._always] * len(texts)
        out = [self._always if text.isascii() else self.rules for text in texts]
        # a text's own line breaks are no word characters either: only the joins split the batch
        joined = "\n".join([text.replace("\n", " ") if text.isascii() else "" for text in texts])
        lines = joined.lower().encode("ascii").translate(_RULE_WORD_BYTES).split(b"\n")
        firsts, by_word, rules = self._first_words, self._by_word, self.rules
        for n, line in enumerate(lines):
            if words := firsts.intersection(line.split()):
                out[n] = [rules[r] for r in sorted(frozenset().union(*(by_word[w] for w in words)))]
        return out

    def _similar(self, items: list[tuple[int, str]]) -> list[Link]:
        assert self.model is not None
        cfg = self.linking
        out = []
        candidates = self._candidates([t for _, t in items])
        for (item_id, _), cands in zip(items, candidates, strict=True):
            for c in cands:
                state = ACCEPTED if c.score >= cfg.auto_accept else SUGGESTED
                out.append(Link(item_id, c.epic_key, SIMILARITY, state, round(float(c.score), 4)))
        return out

    def _candidates(self, texts: list[str]) -> list[list[Candidate]]:
        """The model's candidates for each text, a text this linker already scored in an earlier
        batch not scored again (``_PerText``; on the bench, 40,500 texts scored batch by batch are
        31,000 distinct). The model is the linker's for its life."""
        model = self.model
        assert model is not None
        found = self._scored.of(texts, lambda new: model.score(new, top_k=3, min_score=self.linking.suggest))
        return [found[t] for t in texts]


def _model_identity() -> dict[str, Any]:
    from demandsync.sync.linking.similarity import model_identity

    return model_identity()


def _files_below(folder: Traversable, prefix: str = "") -> Iterator[tuple[str, bytes]]:
    """(path below ``folder``, content) of every file in it and its subfolders, by name; compiled
    caches (``__pycache__``) left out: they are written after the identity is computed."""
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_file():
            yield prefix + entry.name, entry.read_bytes()
        elif entry.is_dir() and entry.name != "__pycache__":
            yield from _files_below(entry, f"{prefix}{entry.name}/")


def stored_model_identity(store: Store) -> dict[str, Any]:
    """``similarity.model_identity()``, imported and computed only when the linking package's files
    (the ``similarity`` package's modules, ``textnorm.py``, the lexicon, ...) are not the ones it
    was last computed from: their constants, defaults and data are all that decide it. A run with
    nothing to link so never imports numpy and scipy (~0.2 s). Where the files cannot be read (a
    frozen build), it is computed each time."""
    digest = hashlib.sha256()
    try:
        for name, data in _files_below(resources.files("demandsync.sync.linking")):
            digest.update(name.encode() + b"\0" + data + b"\0")
    except OSError:
        return _model_identity()
    source = digest.hexdigest()
    cached = store.get_meta("linker_model") or {}
    if cached.get("source") == source and isinstance(cached.get("identity"), dict):
        return dict(cached["identity"])
    identity = _model_identity()
    store.set_meta("linker_model", {"source": source, "identity": identity})
    return identity


def build_model(epics: Sequence[Epic], learned: Learned | None = None) -> SimilarityModel:
    """The similarity model fitted on the epics' text, the feedback PMs accepted and rejected
    for them, and word weights over the stored items."""
    from demandsync.sync.linking.similarity import EpicProfile, SimilarityModel

    learned = learned or Learned()
    return SimilarityModel(chunk_size=SCORE_CHUNK).fit({
        e.key: EpicProfile(e.summary, e.description, list(e.labels), learned.accepted.get(e.key, []),
                           learned.rejected.get(e.key, []))
        for e in epics
    }, background=learned.background)


def link_items(store: Store, epics: Sequence[Epic], rules: Sequence[RuleConfig], linking: LinkingConfig) -> LinkStats:
    """Bring every item's automatic links up to date with the current linker.

    ``meta["linker"]["current"]``: the link fingerprints that count as up to date. After a
    relink of every item under a new fingerprint, an item whose links came out the same keeps
    the fingerprint it had (``Store.replace_auto_links`` writes only what changed), so every
    fingerprint live items still carry is current: each of them holds exactly the links the
    current linker gives. A run killed half-way leaves the meta as it was: the next run
    relinks what is not yet under the new fingerprint, which is right, only slower.

    ``claimed``: fingerprints of linkers with the same epic keys and rules as this one
    (``AutoLinker.claim_fingerprint``). An item carrying one of them that a key or a rule
    claimed (it has such a link) gets the same links from this linker, whatever the epics'
    texts, decisions or model say (those only reach items nothing claimed), so it is not
    read again: after an epic's text changed, only the unclaimed items are relinked. Of those,
    an item carrying one of the last linker's ``current`` fingerprints whose text the new model
    provably scores as the last one did (``_unchanged_scores``) keeps its links and fingerprint,
    which the new ``current`` then counts: it holds exactly the new linker's links. Where that
    cannot be shown cheaply (keys, rules, settings, background sample or model version changed,
    an epic added or removed: every word's weight moves; no snapshot of the last model), every
    item not current is relinked as before.

    The cycle collector is paused meanwhile (``sync/collector.py``): ~1,100 collections of a first
    link of 100,000 items freed nothing."""
    with collector.paused():
        return _link_items(store, epics, rules, linking)


def _link_items(store: Store, epics: Sequence[Epic], rules: Sequence[RuleConfig], linking: LinkingConfig) -> LinkStats:
    linker = AutoLinker(epics, rules, linking, learned_from(store) if linking.similarity else None,
                        stored_model_identity(store) if linking.similarity else None)
    meta = store.get_meta("linker") or {}
    same = meta.get("fingerprint") == linker.fingerprint
    current = sorted({linker.fingerprint, *meta.get("current", ())}) if same else [linker.fingerprint]
    claimed = [linker.fingerprint]
    if meta.get("claim_fingerprint") == linker.claim_fingerprint:
        claimed = sorted({*claimed, *meta.get("claimed", ()), *meta.get("current", ())})
    stats = LinkStats(relinked_all=not same, rules_without_epic=linker.rules_without_epic)
    unchanged = None if same else _unchanged_scores(store, linker, meta)
    was_current = frozenset(meta.get("current", ()))
    for batch in store.items_to_link(current, claimed=claimed):
        if unchanged is not None:
            # an item holding the last linker's links keeps them when its text scores as it did
            # (keys and rules are the same: base_fingerprint), unread and unwritten
            held = [b for b in batch if b.link_fp in was_current]  # the others are relinked anyway
            kept = {b.item_id for b, c in zip(held, unchanged.changed([b.text for b in held]), strict=True) if not c}
            stats.unchanged_items += len(kept)
            batch = [b for b in batch if b.item_id not in kept] if kept else batch
        if not batch:
            continue
        rows = linker.link(batch)
        store.replace_auto_links([b.item_id for b in batch], rows, linker.fingerprint,
                                 unset=[b.item_id for b in batch if not b.link_fp])
        stats.linked_items += len(batch)
    if not same:
        live = store.link_fingerprints() | {linker.fingerprint}
        current, claimed = sorted(live), sorted(live.intersection(claimed))
    snapshot = meta.get("snapshot")
    if linker.fitted_model is not None and snapshot != linker.fingerprint:
        store.set_meta("linker_scores", {"fingerprint": linker.fingerprint, **linker.fitted_model.snapshot()})
        snapshot = linker.fingerprint
    store.set_meta("linker", {"fingerprint": linker.fingerprint, "current": current,
                              "claim_fingerprint": linker.claim_fingerprint, "claimed": claimed,
                              "base": linker.base_fingerprint, "snapshot": snapshot})
    return stats


def _unchanged_scores(store: Store, linker: AutoLinker, meta: dict[str, Any]) -> UnchangedScores | None:
    """Which texts the new model scores as the last one did, when only epic texts or decisions
    changed (same keys, rules, settings, background sample and model version) and the last
    model's snapshot (``meta["linker_scores"]``, written with its fingerprint) is at hand.
    None otherwise: every item not current is relinked, as before."""
    if not linker.linking.similarity or meta.get("base") != linker.base_fingerprint:
        return None
    if meta.get("snapshot") != meta.get("fingerprint"):
        return None
    before = store.get_meta("linker_scores")
    if not before or before.get("fingerprint") != meta.get("fingerprint") or linker.model is None:
        return None
    from demandsync.sync.linking.similarity import UnchangedScores

    return UnchangedScores.between(before, linker.model)
