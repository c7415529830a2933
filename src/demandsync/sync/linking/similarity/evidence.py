"""Explaining a score: the words of an item that carried it for an epic.

Explaining: ``evidence(text, epic)`` recomputes the words that carried a
score (their share of the logit; "offlline->offline", "sso->single+sign",
"-word" for one held back by rejected feedback), for ``suggest`` and
``explain``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from demandsync.sync.linking import textnorm
from demandsync.sync.linking.similarity.scoring import ScoringMixin


@dataclass(frozen=True, slots=True)
class Evidence:
    """One word of an item that carried (or, negative, held back) its score
    for an epic: ``word`` as the item says it, ``means`` the epic's word it
    was matched to when not the same word ("offlline" -> "offline", "sso" ->
    "single sign"), ``weight`` its share of the calibrated logit."""

    word: str
    means: str
    weight: float

    def __str__(self) -> str:
        shown = f"{self.word}->{self.means}" if self.means else self.word
        return shown if self.weight >= 0 else f"-{shown}"


class EvidenceMixin(ScoringMixin):
    """``evidence``: the words behind a score, recomputed from the fitted model."""

    def evidence(self, text: str, epic_key: str, limit: int = 6) -> list[Evidence]:
        """The words of ``text`` that carried its score for ``epic_key``,
        strongest first (words held back by rejected feedback last): why an
        item matched, for ``explain`` and ``suggest``. Recomputed from the
        fitted model, so it agrees with the score."""
        e = self._key_index.get(epic_key)
        if e is None or not text:
            return []
        n_epics = len(self._keys)
        toks = [w for w in textnorm.words(text) if w not in textnorm.STOP_WORDS and len(w) > 1]
        words = list(dict.fromkeys([*toks, *(a + b for a, b in zip(toks, toks[1:]) if a + b in self._joins)]))
        new = [w for w in words if w not in self._word_cache]
        if new:
            self._word_terms(new)
        x, n_terms, known = self._encode([text])
        views = self._q[[e, e + n_epics, e + 2 * n_epics]].toarray()
        raws = views[:2] @ x.toarray()[0]
        view = views[int(np.argmax(raws))]
        item_share = views[2] / max(float(known[0]), self._item_floor)
        short = n_terms[0] <= self.params.short_max
        b_raw = self.params.calibration_short[1] if short else self.params.calibration[1]
        b_item = self.params.calibration_short[2] if short else 0.0
        inverse = {j: t for t, j in self._vocab.items()}
        best: dict[str, Evidence] = {}
        # a stem counts once (its evidence is capped at 1): a synonym or typo of a word the item
        # also says outright carried nothing ("dark theme at night": "night" adds nothing to "dark")
        said = {sid for w in words for sid, strength in self._word_cache.get(w, ()) if strength >= 1.0}
        explained: set[int] = set()  # a short text's words its best epic explains (see _short_features)
        if short and self.params.explain_away:
            z = self._logit(self._raw(x), self._item(x, known), n_terms[:, None])[0]
            top = int(np.argmax(z))
            if top != e and np.isfinite(z[top]):
                explained = set(self._q[2 * n_epics + top].indices.tolist())
        for w in words:
            for sid, strength in self._word_cache.get(w, ()):
                if (strength < 1.0 and sid in said) or sid in explained:
                    continue
                weight = strength * (b_raw * float(view[sid]) + b_item * float(item_share[sid]))
                if abs(weight) < 1e-6:
                    continue
                stem_ = inverse[sid]
                shown = self._display.get(stem_, stem_)
                old = best.get(w)
                if old is None:
                    best[w] = Evidence(w, "" if textnorm.stem(w) == stem_ else shown, weight)
                else:  # a compound, an initialism or a word and its synonym: one entry, its parts joined
                    first = old.means or self._display.get(textnorm.stem(w), textnorm.stem(w))
                    best[w] = Evidence(w, f"{first}+{shown}", old.weight + weight)
        ranked = sorted(best.values(), key=lambda ev: (ev.weight < 0, -abs(ev.weight), ev.word))
        return ranked[:limit]
