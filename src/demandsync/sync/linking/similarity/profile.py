"""Fitting: the epics' profiles as one matrix of term weights (``fit``, ``_profile_matrix``).

* Term weights are IDF over the epics plus a background corpus of items
  (the engine passes a sample of the store): a word in every epic ("item"
  in a shop's backlog) or in every item ("love", the product's name) tells
  epics apart poorly, so it counts little.
* The profile is summary (weighted up) + description + labels + texts a PM
  already accepted for the epic (capped to the newest), each field
  normalised first so a long description cannot drown the summary. Texts a
  PM rejected for the epic push back: their words that the epic's own text
  and accepted feedback do not use enter the profile negatively. Only
  *specific* words of decisions count (``learning``).

**Generic words** ("mode", "option", "data", "file": ``textnorm.GENERIC_WORDS``)
name a kind of thing, not the thing; their IDF is multiplied by
``GENERIC_SHARE``, so "Dark mode" is known by "dark" and "Import data" by
"import" ("Need my backup data" stops suggesting "Import data").

Two views per epic: the *name* (the summary) and the *full* profile
(all fields); an item's raw similarity is the better of the two, so a long
description cannot dilute an item that names the epic (the calibration was
fitted on epics known by name only), and description or accepted feedback
can only add evidence.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Self

import numpy as np
import scipy.sparse as sp

from demandsync.sync.linking import textnorm
from demandsync.sync.linking.similarity.base import EpicProfile
from demandsync.sync.linking.similarity.learning import DecisionsMixin
from demandsync.sync.linking.similarity.scoring import ScoringMixin
from demandsync.sync.linking.similarity.vocabulary import acronyms_of, join_parts


def idf_weights(df: np.ndarray, n_docs: int) -> np.ndarray:
    # BM25's IDF, floored at a small positive value so a term present in every
    # epic still counts a little (a model of one epic still matches its words).
    return np.maximum(np.log1p((n_docs - df + 0.5) / (df + 0.5)), 0.05)


class ProfileMixin(ScoringMixin, DecisionsMixin):
    """``fit``: the epics' texts and decisions to the matrices every score is computed from."""

    def fit(self, profiles: Mapping[str, EpicProfile], background: Sequence[str] = ()) -> Self:
        """Build the epic profile vectors.

        ``background`` (optional) is a corpus of item texts used only for
        document frequencies, so words every item uses ("great", "app",
        "kindle") count less than words that name things. On is22-dev it
        lifts mean R-precision from 0.66 to 0.71. It is part of the
        fingerprint (as a digest), so pass a corpus that changes rarely, such
        as the items known at the last full relink, not every new item.
        """
        p = self.params
        self._keys = sorted(profiles)
        self._key_index = {k: i for i, k in enumerate(self._keys)}
        self._word_cache = {}
        self._snapshot = None
        fields: list[list[tuple[float, list[list[str]]]]] = []
        titles: list[list[tuple[float, list[list[str]]]]] = []
        rejected: list[list[list[str]]] = []
        support: list[set[str]] = []  # the stems of each epic's own text (not its accepted feedback)
        surface: set[str] = set()
        acronyms: dict[str, list[str]] = {}
        bg = [set(textnorm.content_terms(t)) for t in background]
        rate = self._background_rate(profiles, bg)
        for key in self._keys:
            prof = profiles[key]
            accepted = self._accepted(prof)
            parts = [
                (p.summary_weight, [prof.summary or ""]),
                (p.description_weight, [prof.description or ""]),
                (p.labels_weight, [" ".join(prof.labels or ())]),
                (p.accepted_weight, accepted),
            ]
            fw: list[tuple[float, list[list[str]]]] = []
            tw: list[tuple[float, list[list[str]]]] = []
            own_terms: set[str] = set()
            for n_part, (weight, texts) in enumerate(parts):
                if weight <= 0:
                    continue
                terms = []
                for t in texts:
                    ws = [w for w in textnorm.words(t) if w not in textnorm.STOP_WORDS and len(w) > 1]
                    surface.update(ws)
                    if ws:
                        terms.append([textnorm.stem(w) for w in ws])
                if terms and n_part == 3:
                    terms = self._consistent(terms, own_terms, rate)
                if terms:
                    fw.append((weight, terms))
                    if n_part < 3:
                        own_terms.update(t for toks in terms for t in toks)
                    else:  # what users call the epic: words of two short accepted answers
                        seen = Counter(t for toks in terms if len(toks) <= p.short_max for t in set(toks))
                        own_terms.update(t for t, n in seen.items() if n >= 2)
                    if n_part == 0:  # the summary: the epic's name (labels are tags, not words
                        tw.append((weight, terms))  # an item must repeat: they stay in the full view)
            if p.acronyms:
                for acr, stems in acronyms_of(prof.summary or "").items():
                    known = acronyms.setdefault(acr, [])
                    known.extend(t for t in stems if t not in known)
            fields.append(fw)
            titles.append(tw)
            support.append(own_terms)
            rejected.append(self._pushing(self._rejected(prof), accepted, rate))
        self._surface = frozenset(surface)
        self._surface_max = max(map(len, surface), default=0)
        self._display = {}  # stem -> the epic word shown for it (shortest spelling)
        for w in sorted(surface, key=lambda w: (len(w), w)):
            self._display.setdefault(textnorm.stem(w), w)
        self._q, self._vocab, self._idf = _profile_matrix(titles, fields, support, rejected, bg, p.rejected_weight,
                                                               p.generic_share)
        self._idf_unknown = float(idf_weights(np.zeros(1), len(fields) + len(bg))[0])
        self._item_floor = max(p.item_floor * self._idf_unknown, 1e-9)
        # an item's own term weight leaves out the filler of requests ("feature", "add", "support"):
        # "Feature request: add webhook support" says one thing, webhooks
        self._idf_item = self._idf.astype(np.float32)
        for w in textnorm.FILLER_WORDS:
            j = self._vocab.get(textnorm.stem(w))
            if j is not None:
                self._idf_item[j] = 0.0
        # adjacent words join into an epic word ("dark mode" for "Darkmode") or into a lexicon
        # phrase for one ("night mode" -> "nightmode", a synonym of "dark"; "night" alone is not)
        lexicon = textnorm.synonyms() if p.lexicon else {}
        self._joins = self._surface | {w for w in textnorm.lexicon_words()
                                       if any(s in self._vocab for s in lexicon.get(textnorm.stem(w), ()))}
        self._join_heads, self._join_tails = join_parts(self._joins)
        self._acronym_terms = {
            a: tuple((self._vocab[t], 1.0) for t in st if t in self._vocab)
            for a, st in acronyms.items() if a not in surface
        }
        self._split_heavy()
        self._fit_fuzzy_index()
        self._fingerprint = self._compute_fingerprint(profiles, background)
        return self


def _profile_matrix(
    titles: list[list[tuple[float, list[list[str]]]]],
    fields: list[list[tuple[float, list[list[str]]]]],
    support: list[set[str]],
    rejected: list[list[list[str]]],
    background: list[set[str]],
    rejected_weight: float,
    generic_share: float = 1.0,
) -> tuple[sp.csr_matrix, dict[str, int], np.ndarray]:
    """Three blocks of rows per epic, stacked: rows ``0..E-1`` the *name*
    view (the summary), rows ``E..2E-1`` the *full* view (all fields),
    rows ``2E..3E-1`` the IDF of every term of the epic's own text
    (``support``: summary, description, labels, and the words of at least
    two accepted answers of at most ``short_max`` content words; for the
    item-side coverage. Long accepted reviews are left out of it: they
    bring dozens of incidental words, and a short item saying two of them
    is not about the epic). The two views' rows sum to 1: entry = the term's
    share of the epic, minus the push-back of rejected feedback.

    Each text of a field becomes an IDF-weighted vector summing to 1; a
    field is the mean of its texts; a view is the weighted mean of its
    fields. So a field's share is its weight, whatever its length.
    An item's coverage is the better of the two views: naming the epic
    counts fully even when the epic also has a long description (whose
    share would otherwise dilute it, and the calibration was fitted on
    epics known by name only), and matching the description or the
    accepted feedback can only add.

    Rejected texts: each is an IDF-weighted vector summing to 1 like the
    others; the terms of it that the epic's own fields do not use enter
    both views negatively (mean over rejected texts, times
    ``rejected_weight``), so an item repeating what a PM already turned
    down for this epic scores lower, and one naming the epic still wins.
    """
    vocab: dict[str, int] = {}
    for fw in fields:
        for _, texts in fw:
            for toks in texts:
                for t in toks:
                    vocab.setdefault(t, len(vocab))
    df = np.zeros(len(vocab))
    for fw in fields:
        seen = {vocab[t] for _, texts in fw for toks in texts for t in toks}
        df[list(seen)] += 1
    for rej in rejected:  # words only rejected texts use are columns too (negative)
        for toks in rej:
            for t in toks:
                vocab.setdefault(t, len(vocab))
    df = np.concatenate([df, np.zeros(len(vocab) - len(df))])
    for doc in background:
        df[[vocab[t] for t in doc if t in vocab]] += 1
    idf = idf_weights(df, len(fields) + len(background))
    for w in textnorm.GENERIC_WORDS:  # "mode" names a kind of thing, not the thing
        j = vocab.get(textnorm.stem(w))
        if j is not None:
            idf[j] *= generic_share
    n_epics = len(fields)
    idf_of = idf.tolist()  # (float(idf[i]) per entry: a numpy scalar each)
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for e, fw in enumerate([*titles, *fields]):
        if not fw:
            continue
        total_w = sum(w for w, _ in fw)
        acc: dict[int, float] = {}
        for weight, texts in fw:
            share = weight / total_w / len(texts)
            for toks in texts:
                ids = sorted({vocab[t] for t in toks})
                v = idf[ids]
                v = share * v / v.sum()
                for i, x in zip(ids, v.tolist()):
                    acc[i] = acc.get(i, 0.0) + x
        rejected_ids: list[list[int]] = [sorted({vocab[t] for t in toks}) for toks in rejected[e % n_epics] if toks]
        own_ids: set[int] = ({vocab[t] for _, texts in fields[e % n_epics] for toks in texts for t in toks}
                             if rejected_ids else set())  # (only rejected words need it)
        for rej_ids in rejected_ids:
            push = idf[rej_ids]
            push = rejected_weight / len(rejected_ids) * push / push.sum()
            for col, x in zip(rej_ids, push.tolist()):
                if col not in own_ids:
                    acc[col] = acc.get(col, 0.0) - x
        entries = sorted(acc.items())
        rows.extend([e] * len(entries))
        cols.extend([i for i, _ in entries])
        vals.extend([x for _, x in entries])
        if e >= n_epics:  # the epic's own words, weighted by IDF
            own = sorted(vocab[t] for t in support[e - n_epics])
            rows.extend([e + n_epics] * len(own))
            cols.extend(own)
            vals.extend([idf_of[i] for i in own])
    q = sp.csr_matrix((vals, (rows, cols)), shape=(3 * n_epics, len(vocab)), dtype=np.float32)
    return q, vocab, idf
