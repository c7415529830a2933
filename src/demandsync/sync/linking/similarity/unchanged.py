"""Which texts a refitted model scores exactly as the last one did (incremental relinking).

``sync/linking/link.py`` relinks, after epic texts or decisions changed, only the texts
:class:`UnchangedScores` cannot show unchanged; its docstring says why that is exact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from demandsync.sync.linking import textnorm
from demandsync.sync.linking.similarity.model import SimilarityModel


class UnchangedScores:
    """Which texts a refitted model scores exactly as the model a :meth:`SimilarityModel.snapshot`
    was taken of: the same candidates, the same float bits.

    Exact by construction, not by tolerance: a text is unchanged when every word it says (and every
    pair of adjacent words it joins) means the same stems at the same strengths under both models,
    every one of those stems has the same digest (its entries in every view, by epic key), and the
    stems both models share in the same digest keep their relative column order (the order scores
    are summed in). Then every step of ``score`` computes the same numbers in the same order for the
    text: its row never meets a column that changed. An edit to one epic's text changes the columns
    of that epic's stems, and, where it changes a word's document frequency, the IDF of that word
    and so the normalisation of every epic using it (their stems change too): all of that shows in
    the digests. What changes every text (the IDF's document count: an epic added or removed, a new
    background sample; the params) gives ``between`` None: relink everything.
    """

    def __init__(self, before: Mapping[str, Any], after: SimilarityModel, clean: frozenset[str]) -> None:
        self._after = after
        old = SimilarityModel(after.params)
        old._vocab = {stem_: j for j, stem_ in enumerate(before["stems"])}
        old._surface = frozenset(before["surface"])
        old._surface_max = max(map(len, old._surface), default=0)
        old._acronym_terms = {a: tuple((old._vocab[t], 1.0) for t in stems) for a, stems in before["acronyms"].items()}
        old._fit_fuzzy_index()
        self._old = old
        self._old_stems: list[str] = list(before["stems"])
        self._new_stems = after.snapshot()["stems"]
        self._clean = clean
        #: classified words: True when the word means something else now, or a stem whose column changed
        self._changed: dict[str, bool] = {}
        self._changed_words: set[str] = set()
        old_joins = old._surface | frozenset(before["joins"])
        new_joins = after._joins
        self._classify(old_joins | new_joins)
        #: joins (two adjacent words said as one: "dark mode" -> "darkmode") a text has under one model
        #: and not the other, or whose meaning changed
        self._joins = frozenset((old_joins ^ new_joins) | {j for j in old_joins & new_joins if self._changed[j]})
        stop = textnorm.STOP_WORDS
        #: first words of those joins: only a text saying one of them needs its pairs looked at
        self._join_firsts = frozenset(j[:i] for j in self._joins for i in range(2, len(j) - 1) if j[:i] not in stop)

    @classmethod
    def between(cls, before: Mapping[str, Any], after: SimilarityModel) -> UnchangedScores | None:
        """None when no text can be shown unchanged cheaply (another snapshot version, other
        globals, or the shared stems' order moved): score them all."""
        now = after.snapshot()
        if before.get("v") != now["v"] or before.get("globals") != now["globals"]:
            return None
        digest = dict(zip(now["stems"], now["digests"], strict=True))
        clean = frozenset(s for s, d in zip(before["stems"], before["digests"], strict=True) if digest.get(s) == d)
        if [s for s in before["stems"] if s in clean] != [s for s in now["stems"] if s in clean]:
            return None
        return cls(before, after, clean)

    def _classify(self, words: set[str] | frozenset[str]) -> None:
        """Decide for each word not yet seen whether it means something else now (or a stem that
        changed). Joined pairs are words too (an item's adjacent words, said as one)."""
        todo = [w for w in words if w not in self._changed]
        for model in (self._after, self._old):
            new = [w for w in todo if w not in model._word_cache]
            if new:
                model._word_terms(new)
        old_cache, new_cache = self._old._word_cache, self._after._word_cache
        old_stems, new_stems, clean = self._old_stems, self._new_stems, self._clean
        for w in todo:
            meant = [(new_stems[j], x) for j, x in new_cache[w]]
            changed = meant != [(old_stems[j], x) for j, x in old_cache[w]] or any(s not in clean for s, _ in meant)
            self._changed[w] = changed
            if changed:
                self._changed_words.add(w)

    def changed(self, texts: Sequence[str]) -> list[bool]:
        """For each text: may it score differently now (True: score it again)? Each distinct text
        is looked at once (survey answers repeat, as in ``SimilarityModel.score``)."""
        first: dict[str, int] = {}
        which = [first.setdefault(t or "", len(first)) for t in texts]
        findall, fold = textnorm._WORD_RE.findall, textnorm.fold
        said = [findall(fold(t)) for t in first]
        firsts, joins, stop = self._join_firsts, self._joins, textnorm.STOP_WORDS
        self._classify({w for w in set().union(*said) if w not in stop and len(w) > 1})
        words = self._changed_words
        out = []
        for toks in said:
            if not words.isdisjoint(toks):
                out.append(True)
            elif firsts.isdisjoint(toks):
                out.append(False)
            else:  # a join that changed, if two of its words stand side by side (stop words left out)
                kept = [w for w in toks if w not in stop and len(w) > 1]
                out.append(any(a + b in joins for a, b in zip(kept, kept[1:])))
        return out if len(first) == len(texts) else [out[i] for i in which]
