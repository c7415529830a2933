"""Themes: unlinked feedback grouped by what it talks about.

Feedback that no epic claims is the PM's blind spot (11 of 40 answers in our
trial appeared in no command at all). Read one by one it is noise; grouped,
"twelve people asked to export to PDF" is a missing epic.

How: each item becomes the linking model's own representation
(:func:`~demandsync.sync.linking.similarity.term_vectors`: stems of content
words, BM25 IDF, L2-normalised), reduced to ``LSA_DIMENSIONS`` latent
dimensions (truncated SVD, so "offline"/"download"/"airplane" can meet), then
grouped by k-means into ``n / ITEMS_PER_THEME`` themes (seeded: the same inbox
gives the same themes). ``bench/themes.py`` measures how well items judged
relevant to one feature land together on is22-dev. Measured and dropped:
average-linkage agglomerative clustering on the raw vectors (long reviews share
few stems pairwise, so it made hundreds of near-duplicate pairs: pairwise
recall 0.02-0.11 against 0.68 for this, on the judged reviews).

Only groups of at least ``min_size`` items, most of which share a word, are
themes; the rest stay single items. A theme is labelled by its characteristic words: the stems with the
highest share-in-theme x IDF, shown as the surface word users typed most.

At most ``MAX_ITEMS`` items are grouped (the newest, chosen by the caller), so
the page stays fast on a large inbox.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from demandsync.sync.linking import textnorm
from demandsync.sync.linking.similarity import term_vectors

#: Items per theme on average: the inbox holds ``n / ITEMS_PER_THEME`` themes (bench/themes.py).
ITEMS_PER_THEME = 40
#: Latent dimensions the term vectors are reduced to before grouping.
LSA_DIMENSIONS = 50
MIN_SIZE = 2
#: A theme needs a word at least this share of its items say; other groups stay single items.
MIN_SHARED = 0.5
MAX_ITEMS = 2000
LABEL_WORDS = 4


@dataclass(frozen=True, slots=True)
class Theme:
    """A group of items: ``members`` index the texts given, best-fitting first."""

    members: tuple[int, ...]
    words: tuple[str, ...]

    @property
    def label(self) -> str:
        return " · ".join(self.words)


def find_themes(
    texts: Sequence[str], *, items_per_theme: int = ITEMS_PER_THEME, min_size: int = MIN_SIZE,
    label_words: int = LABEL_WORDS,
) -> list[Theme]:
    """Themes among ``texts``, largest first (ties: the one with the lowest first index)."""
    labels = cluster_labels(texts, items_per_theme=items_per_theme)
    if labels.size == 0:
        return []
    vectors = term_vectors(texts)
    x, terms, idf = vectors.matrix, vectors.terms, vectors.idf
    surface = _surface_words(texts)
    themes: list[Theme] = []
    for label in np.unique(labels):
        if label < 0:
            continue
        members = np.flatnonzero(labels == label)
        if len(members) < min_size:
            continue
        share = np.asarray((x[members] > 0).sum(axis=0)).ravel() / len(members)
        core = np.flatnonzero(share >= MIN_SHARED)
        if not len(core):  # k-means put them together, but most of them share no word
            continue
        # a member saying none of the core words was put here by k-means only: it stays a single item
        kept = members[np.asarray((x[members][:, core] > 0).sum(axis=1)).ravel() > 0]
        if len(kept) < min_size:
            continue
        sub = x[kept]
        fit = np.asarray(sub @ np.asarray(sub.sum(axis=0)).ravel()).ravel()  # how central each member is
        order = kept[np.lexsort((kept, -fit))]
        themes.append(Theme(tuple(int(i) for i in order), _label(sub, idf, terms, surface, label_words)))
    themes.sort(key=lambda t: (-len(t.members), min(t.members)))
    return themes


def _label(sub: sp.csr_matrix, idf: np.ndarray, terms: list[str], surface: dict[str, str], n: int) -> tuple[str, ...]:
    """The theme's characteristic words: said by more than half of it, most distinctive (IDF) first;
    topped up with words said by at least a quarter (and two items) when fewer than two."""
    said = np.asarray((sub > 0).sum(axis=0)).ravel()
    share = said / sub.shape[0]
    weight = share * idf
    ranked = [int(j) for j in np.argsort(-weight, kind="stable")]
    words = [j for j in ranked if share[j] > MIN_SHARED][:n]
    if len(words) < 2:
        words += [j for j in ranked if MIN_SHARED >= share[j] >= 0.25 and said[j] >= 2][: 2 - len(words)]
    return tuple(surface.get(terms[j], terms[j]) for j in words)


def cluster_labels(texts: Sequence[str], *, items_per_theme: int = ITEMS_PER_THEME) -> np.ndarray:
    """One cluster label per text (``-1`` for a text with no content word)."""
    n = len(texts)
    labels = np.full(n, -1, dtype=np.int64)
    x = term_vectors(texts).matrix
    idx = np.flatnonzero(np.asarray(x.getnnz(axis=1)).ravel() > 0)
    # n / items_per_theme themes, but a small inbox still splits (5 items: 2 groups, 20: 3, 64: 4)
    k = max(1, round(len(idx) / items_per_theme), math.ceil(math.sqrt(len(idx)) / 2))
    if len(idx) < 2 or k == 1:
        labels[idx] = 0
        return labels
    from sklearn.cluster import KMeans  # type: ignore[import-untyped]
    from sklearn.decomposition import TruncatedSVD  # type: ignore[import-untyped]
    from sklearn.preprocessing import normalize  # type: ignore[import-untyped]
    from threadpoolctl import threadpool_limits

    sub = x[idx]
    dims = min(LSA_DIMENSIONS, sub.shape[1] - 1, len(idx) - 1)
    # One thread: these matrices are small, and on a busy machine OpenMP/BLAS threads spent
    # 5x the CPU waiting on each other (k-means on 2,000 items: 2.8 s of CPU vs 0.4 s).
    with threadpool_limits(1):
        z = normalize(TruncatedSVD(dims, random_state=0).fit_transform(sub)) if dims >= 2 else sub.toarray()
        labels[idx] = KMeans(n_clusters=min(k, len(idx)), n_init=4, random_state=0).fit_predict(z)
    return labels


def _surface_words(texts: Sequence[str]) -> dict[str, str]:
    """stem -> the word users wrote most for it ("export" for export/exports/exporting)."""
    seen: dict[str, Counter[str]] = {}
    for text in texts:
        for w in textnorm.words(text or ""):
            if w in textnorm.STOP_WORDS or len(w) <= 1:
                continue
            seen.setdefault(textnorm.stem(w), Counter())[w] += 1
    return {s: c.most_common(1)[0][0] for s, c in seen.items()}
