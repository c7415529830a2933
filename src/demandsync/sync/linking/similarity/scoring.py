"""Scoring: how much of each epic an item says (its coverage), and the calibrated logit.

Short answers
-------------
A survey answer is a few words ("dark theme!!", "we need SSO"): it rarely
says most of an epic's profile, but what it says is about the epic. So a
second, item-side feature: **item coverage**, the share of the item's own
term weight that the epic's own words (summary, description, labels, and
words of two short accepted answers) cover. Filler of requests ("feature",
"request", "add", "support": ``textnorm.FILLER_WORDS``) does not count in
the item's weight, and that weight is at least ``ITEM_FLOOR`` rare words,
so "I love WhatsApp" (one common word) does not fully "cover" the epic
"WhatsApp call". "A night mode would be great" -> "Dark mode" (description
"dark colour theme") now scores 0.60 (was 0.08); "dark theme!!" 0.87 (was
0.33).

**Explaining away** (short texts only): a short answer asks for one thing, so
the words its best epic's own text uses are no evidence for any other epic
("add dark mode" stops suggesting "Offline mode" through "mode";
``_short_features``). Measured: short-answer suggestions right 0.874 ->
0.961 at the same recall, is22-dev R-precision 0.685 -> 0.691. Refitting
the short calibration afterwards lifts held-out short-answer recall to 0.88
but costs is22-dev its automatic links' precision (0.92 -> 0.84) and
R-precision (0.63), so the calibration was kept.

Calibration
-----------
Two logistic calibrations, chosen by the item's count of content words
``n`` (``L = ln(1 + n)``):

* long texts (``n > SHORT_MAX``):
  ``logistic(CAL_BIAS + CAL_RAW * raw + CAL_LENGTH * L)``: a long review
  mentions many things by chance, so the same coverage is weaker evidence
  in it. Fitted on is22-dev reviews (real app reviews judged against app
  features) by ``bench/linking.py --fit-calibration``, which also reports
  leave-one-app-out figures.
* short texts: ``logistic(s0 + s_raw * raw + s_item * item + s_len * L)``
  (``CAL_SHORT``), fitted on the short-answer benchmark together with
  is22-dev's short reviews (``bench/shortanswers.py --fit-calibration``, with
  held-out figures: folds of epics for the answers, leave-one-app-out for
  is22-dev). The two disagree on short texts (is22-dev's judges call most
  short reviews naming a feature irrelevant; survey answers naming one ask
  for it): fitted on the answers alone, the calibration leaned on the
  answers' length and bias and cost is22-dev its R-precision (0.63) and its
  automatic links' precision (0.84). Once generic words and words explained
  by a better epic stopped carrying scores, one fit serves both: it leans on
  item coverage (the item says little else) rather than on shortness.
  Measured, held out: short answers right epic among suggestions 0.82,
  suggestions right 0.97, auto-links 0.985; is22-dev R-precision 0.708, auto
  links 0.91.

A score reads as "estimated probability that the judges call this link
relevant". An item
sharing no term with an epic scores exactly 0. The margin to the second-best
epic was tried as a feature and got a (small) negative weight: real
backlogs have overlapping epics ("Sell item" / "List items for sale") and an
item may rightly feed both, so it is left out; ``top_k`` shows the
alternatives instead.

Speed: coverage is sparse products (stems shared by many epics as a small
dense block, ``_split_heavy``; an epic known by its summary alone multiplied
once, not once per view). Item coverage is computed for short texts only (the
long calibration does not use it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from demandsync.sync.linking.similarity.vocabulary import VocabularyMixin

# Stems in more epics than this are multiplied as a dense block (speed only).
DENSE_MIN_EPICS = 64


@dataclass(frozen=True, slots=True)
class PairFeatures:
    """The calibration's inputs for a batch: ``raw`` is (items x epics),
    ``n_terms`` one count per item. For benchmarks and calibration fitting;
    dense, so small batches only."""

    raw: np.ndarray
    n_terms: np.ndarray
    #: (items x epics): share of the item's own term weight the epic knows.
    item: np.ndarray


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _split(q_t: sp.csr_matrix, heavy: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, sp.csr_matrix]:
    """(heavy row ids, their dense block, the rest sparse) of a stems x epics matrix; ``heavy``:
    the rows to put in the block, when not this matrix's own (rows in more than DENSE_MIN_EPICS)."""
    df = np.diff(q_t.indptr)
    heavy = np.flatnonzero(df > DENSE_MIN_EPICS) if heavy is None else heavy
    light = q_t.copy()
    mask = np.zeros(q_t.shape[0], dtype=bool)
    mask[heavy] = True
    light.data[np.repeat(mask, df)] = 0.0
    light.eliminate_zeros()
    return heavy, q_t[heavy].toarray(), light


def _same_row(m: sp.csr_matrix, a: int, b: int) -> bool:
    """Whether rows ``a`` and ``b`` hold the same entries (columns and float bits, in order)."""
    ra, rb = slice(m.indptr[a], m.indptr[a + 1]), slice(m.indptr[b], m.indptr[b + 1])
    return m.indices[ra].tobytes() == m.indices[rb].tobytes() and m.data[ra].tobytes() == m.data[rb].tobytes()


def _column_ceiling(m: sp.csr_matrix) -> np.ndarray:
    """Each column's largest entry, and at least 0 (float64)."""
    if not m.shape[0]:
        return np.zeros(m.shape[1])
    return np.maximum(np.asarray(m.max(axis=0).toarray(), dtype=np.float64).ravel(), 0.0)


def _product(x: sp.csr_matrix, light: sp.csr_matrix, heavy: np.ndarray, block: np.ndarray) -> np.ndarray:
    """``x`` times a stems x epics matrix split by :func:`_split`, dense: the heavy stems' product
    (which allocates the result) plus the light product's few entries, added in place. Each cell is
    the same two terms as ``light.toarray() + heavy product`` (addition commutes exactly), without
    a zero-filled array and a second dense pass over it: the dense (items x epics) passes are most
    of scoring's arithmetic."""
    if not len(heavy):
        return np.asarray((x @ light).toarray())
    out = np.asarray(x[:, heavy] @ block)
    part = (x @ light).tocoo()  # a product has one entry per (row, column): no duplicates to sum
    out[part.row, part.col] += part.data
    return out


class ScoringMixin(VocabularyMixin):
    """Coverage of the epics (``_raw``) and of the item (``_item``), explaining away, the logits."""

    def _split_heavy(self) -> None:
        """Stems shared by many epics go to a small dense block.

        The (items x epics) product is nearly dense because a few common stems
        touch many epics; sparse x sparse then spends its time on bookkeeping.
        Those stems times a dense block, plus the rest sparse, give the same
        numbers about 5x faster.
        """
        n_epics = len(self._keys)
        views = self._q[: 2 * n_epics]
        # An epic known by its summary alone (no description, labels or accepted texts: the sandbox's,
        # many real ones) has one view, not two: its full-view column is left out of the product and
        # its raw coverage is its name view's (the max of two equal numbers). Which stems are heavy
        # stays decided by both views: it decides how each score is summed, so its bits.
        self._full = np.array([e for e in range(n_epics) if not _same_row(views, e, e + n_epics)], dtype=np.int64)
        heavy = np.flatnonzero(np.diff(views.T.tocsr().indptr) > DENSE_MIN_EPICS)
        if len(self._full) < n_epics:
            views = views[np.concatenate([np.arange(n_epics), n_epics + self._full])]
        self._heavy, self._q_heavy, self._q_t = _split(views.T.tocsr(), heavy)
        # item-side coverage (short texts only): the same split
        self._s_heavy, self._s_heavy_block, self._s_t = _split(self._q[2 * n_epics :].T.tocsr())
        self._raw_ceiling = _column_ceiling(self._q[: 2 * n_epics])
        self._item_ceiling = _column_ceiling(self._q[2 * n_epics :])

    def _raw(self, x: sp.csr_matrix) -> np.ndarray:
        """(items x epics) raw coverage of the epic for encoded items ``x``:
        the better of the name view and the full view (a view of the product's first half)."""
        both = _product(x, self._q_t, self._heavy, self._q_heavy)
        n_epics, full = len(self._keys), self._full
        if len(full) == n_epics:  # every epic has a full view of its own (see _split_heavy)
            return np.maximum(both[:, :n_epics], both[:, n_epics:], out=both[:, :n_epics])
        raw = both[:, :n_epics]
        if len(full):
            raw[:, full] = np.maximum(raw[:, full], both[:, n_epics:])
        return raw

    def _item(self, x: sp.csr_matrix, known: np.ndarray) -> np.ndarray:
        """(items x epics) coverage of the item: the share of its own term
        weight ``known`` (at least the floor) that the epic's words cover."""
        item = _product(x, self._s_t, self._s_heavy, self._s_heavy_block)
        item /= np.maximum(known, self._item_floor).astype(item.dtype)[:, None]
        return item
    def _unexplained(self, x: sp.csr_matrix, best: np.ndarray) -> sp.csr_matrix:
        """``x`` without the stems each row's ``best`` epic's own text uses."""
        own = self._q[2 * len(self._keys) + best]  # the best epic's own words, one row per item
        rest = (x - x.multiply(own > 0)).tocsr()
        rest.eliminate_zeros()
        return rest

    def _short_logit(self, raw: np.ndarray, item: np.ndarray, n_terms: np.ndarray) -> np.ndarray:
        """The short-text logit, in place on ``raw`` (float32: a quarter of a chunk can be short)."""
        s0, s_raw, s_item, s_len = self.params.calibration_short
        z = raw
        shares_nothing = z <= 0.0
        np.minimum(item, 1.0, out=item)
        item *= s_item
        z *= s_raw
        z += item
        z += (s0 + s_len * np.log1p(n_terms)).astype(z.dtype)[:, None]
        z[shares_nothing] = -np.inf
        return z

    def _short_features(self, x: sp.csr_matrix, known: np.ndarray, n_terms: np.ndarray,
                        raw: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(raw, item) coverage of short texts, with their words **explained away**.

        A short answer asks for one thing: once its best epic accounts for a
        word, that word is no evidence for another epic. "add dark mode" is
        about "Dark mode"; its "mode" must not also make it a suggestion for
        "Offline mode" (a generic word producing a wrong second suggestion).
        So every epic but the row's best is scored on the words the best
        epic's own text (summary, description, labels) does not use.
        """
        raw = self._raw(x) if raw is None else raw
        item = self._item(x, known)
        if not self.params.explain_away or not x.shape[0]:
            return raw, item
        z = self._short_logit(raw.copy(), item.copy(), n_terms)
        best = z.argmax(axis=1)
        rest = self._unexplained(x, best)
        raw_rest, item_rest = self._raw(rest), self._item(rest, known)
        rows = np.arange(x.shape[0])
        keep_raw, keep_item = raw[rows, best], item[rows, best]
        raw_rest[rows, best] = keep_raw
        item_rest[rows, best] = keep_item
        return raw_rest, item_rest
    def _logit(self, raw: np.ndarray, item: np.ndarray, n_terms: np.ndarray) -> np.ndarray:
        """The calibrated logit per pair (``n_terms`` one per row); -inf for
        pairs that share nothing, or whose rejected words outweigh the rest."""
        b0, b_raw, b_len = self.params.calibration
        s0, s_raw, s_item, s_len = self.params.calibration_short
        length = np.log1p(n_terms).astype(raw.dtype)
        long_ = b0 + b_len * length + b_raw * raw
        short = s0 + s_len * length + s_raw * raw + s_item * np.minimum(item, 1.0)
        z = np.where(n_terms <= self.params.short_max, short, long_)
        return np.where(raw > 0.0, z, -np.inf)

    @staticmethod
    def _calibrate(z: np.ndarray) -> np.ndarray:
        """Probability from the logit; exactly 0 for pairs sharing nothing."""
        return np.where(np.isfinite(z), _sigmoid(np.where(np.isfinite(z), z, 0.0)), 0.0)
    def features(self, texts: Sequence[str]) -> PairFeatures:
        """Dense raw similarity and item lengths for all (text, epic) pairs."""
        if not texts or not self._keys:
            zero = np.zeros((len(texts), len(self._keys)))
            return PairFeatures(raw=zero, n_terms=np.zeros(len(texts)), item=zero.copy())
        x, n_terms, known = self._encode(texts)
        raw, item = self._raw(x), self._item(x, known)
        short = np.flatnonzero(n_terms <= self.params.short_max)
        if len(short):
            raw[short], item[short] = self._short_features(x[short], known[short], n_terms[short])
        return PairFeatures(raw=raw.astype(np.float64), n_terms=n_terms, item=item.astype(np.float64))
