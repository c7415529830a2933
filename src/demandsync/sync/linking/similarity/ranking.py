"""Ranking: each text's best epics (``score``) and each epic's best items (``rank_items``).

Speed: texts are scored in chunks of ``chunk_size`` items, with a per-row
top-k among the keys that can reach the minimum score (``_top_above``; by
repeated argmax without a minimum), texts whose ceiling cannot reach that
minimum left out of the products (``_may_reach``). One thread: a second,
tokenising one chunk while another chunk's products ran, cost more CPU and no
wall time (``docs/performance.md``). No loop per pair. ``bench/link_speed.py``:
100,000 texts x 2,000 epics in ~3 s on 2 cores.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from demandsync.sync.linking.similarity.scoring import ScoringMixin


def _logit_floor(min_score: float) -> float:
    """The logit a key must reach to score ``min_score``, less a margin of 1e-3 (far above float32
    rounding): what ``_top_above`` and ``_may_reach`` compare with, so they leave out the same."""
    return math.log(min_score / (1.0 - min_score)) - 1e-3


# score(): top_k up to this uses repeated argmax instead of argpartition.
_ARGMAX_TOP_K = 8


@dataclass(frozen=True, slots=True)
class Candidate:
    """One proposed link: the epic and the calibrated score (0..1)."""

    epic_key: str
    score: float



class RankingMixin(ScoringMixin):
    """``score`` and ``rank_items``: the candidates, best first, that linking and ``suggest`` use."""

    def _ranking_keys(self, x: sp.csr_matrix, n_terms: np.ndarray, known: np.ndarray) -> np.ndarray:
        """(items x epics) keys that order each row's epics as the calibrated
        score does: the raw coverage for long texts (their logit grows with
        it), the logit for short ones. Item coverage is computed for the
        short rows only: the long calibration does not use it, and it is the
        costly part."""
        keys = self._raw(x)
        short = np.flatnonzero(n_terms <= self.params.short_max)
        if len(short):
            xs, ks, ns = x[short], known[short], n_terms[short]
            z = self._short_logit(keys[short], self._item(xs, ks), ns)
            if self.params.explain_away:
                best = z.argmax(axis=1)
                rows = np.arange(len(short))
                keep = z[rows, best]
                rest = self._unexplained(xs, best)
                z = self._short_logit(self._raw(rest), self._item(rest, ks), ns)
                z[rows, best] = keep
            keys[short] = z
        return keys
    def _logits_of_keys(self, keys: np.ndarray, n_terms: np.ndarray) -> np.ndarray:
        """The calibrated logits of (rows x k) chosen ``_ranking_keys``."""
        b0, b_raw, b_len = self.params.calibration
        z = np.where(keys > 0.0, b0 + b_len * np.log1p(n_terms)[:, None] + b_raw * keys, -np.inf)
        short = n_terms <= self.params.short_max
        z[short] = keys[short]
        return z
    def score(self, texts: Sequence[str], top_k: int = 3, min_score: float = 0.2) -> list[list[Candidate]]:
        """Best epics per text (best first): at most ``top_k``, each scoring at
        least ``min_score`` (and always > 0).

        A text is scored once however often it occurs: survey answers repeat ("n/a", "dark mode",
        a template's stock phrases), and a text's score depends on nothing but the text and the
        model (rows never mix: see ``_encode``), so every copy gets the same candidates."""
        if not texts or not self._keys or top_k <= 0:
            return [[] for _ in texts]
        first: dict[str, int] = {}
        which = [first.setdefault(t, len(first)) for t in texts]
        if len(first) == len(texts):
            return self._score_distinct(texts, top_k, min_score)
        scored = self._score_distinct(list(first), top_k, min_score)
        return [list(scored[i]) for i in which]

    def _score_distinct(self, texts: Sequence[str], top_k: int, min_score: float) -> list[list[Candidate]]:
        out: list[list[Candidate]] = [[] for _ in texts]
        n_epics = len(self._keys)
        k = min(top_k, n_epics)
        chunk = max(1, self.params.chunk_size)
        spans = [(lo, min(len(texts), lo + chunk)) for lo in range(0, len(texts), chunk)]

        def one(span: tuple[int, int]) -> tuple[int, np.ndarray, np.ndarray]:
            lo, hi = span
            x, n_terms, known = self._encode(texts[lo:hi])
            if self._can_cut(min_score):
                idx, top = self._top_of_reachable(x, n_terms, known, k, min_score)
                return lo, idx, self._calibrate(self._logits_of_keys(top, n_terms))
            raw = self._ranking_keys(x, n_terms, known)
            if k <= _ARGMAX_TOP_K:
                # k passes of argmax beat argpartition ~4x for small k; argmax
                # takes the first maximum, so ties go to epic key order.
                idx = np.empty((hi - lo, k), dtype=np.int64)
                top = np.empty((hi - lo, k), dtype=raw.dtype)
                rows = np.arange(hi - lo)
                for j in range(k):
                    idx[:, j] = raw.argmax(axis=1)
                    top[:, j] = raw[rows, idx[:, j]]
                    raw[rows, idx[:, j]] = -np.inf
            else:
                idx = np.argpartition(-raw, k - 1, axis=1)[:, :k] if k < n_epics else np.broadcast_to(np.arange(n_epics), raw.shape).copy()
                top = np.take_along_axis(raw, idx, axis=1)
                order = np.lexsort((idx, -top), axis=1)  # ties: epic key order, reproducible
                idx = np.take_along_axis(idx, order, axis=1)
                top = np.take_along_axis(top, order, axis=1)
            return lo, idx, self._calibrate(self._logits_of_keys(top, n_terms))

        results = [one(s) for s in spans]
        keys = self._keys
        for lo, idx, sc in results:
            rows, cols = np.nonzero((sc >= min_score) & (sc > 0.0))
            for r, c in zip(rows.tolist(), cols.tolist()):
                out[lo + r].append(Candidate(keys[idx[r, c]], float(sc[r, c])))
        return out

    def _top_of_reachable(self, x: sp.csr_matrix, n_terms: np.ndarray, known: np.ndarray, k: int,
                          min_score: float) -> tuple[np.ndarray, np.ndarray]:
        """``_top_above`` of every row of ``x``, computed for the rows that :meth:`_may_reach`
        ``min_score`` only; the others hold column 0 at -inf (they score exactly 0). A row's keys
        depend on that row alone (no product, calibration or top-k mixes rows), so the rows kept
        get the same bits as in a product of the whole chunk."""
        rows = self._may_reach(x, n_terms, known, min_score)
        idx = np.zeros((x.shape[0], k), dtype=np.int64)
        if not len(rows):
            return idx, np.full((x.shape[0], k), -np.inf, dtype=np.float32)
        some = n_terms[rows]
        reached, keys = self._top_above(self._ranking_keys(x[rows], some, known[rows]), some, k, min_score)
        top = np.full((x.shape[0], k), -np.inf, dtype=keys.dtype)
        idx[rows], top[rows] = reached, keys
        return idx, top

    def _may_reach(self, x: sp.csr_matrix, n_terms: np.ndarray, known: np.ndarray, min_score: float) -> np.ndarray:
        """The rows of encoded items ``x`` that may score ``min_score`` for some epic: the others are
        left out of the dense (rows x epics) products. A ceiling of each row's best logit: every
        stem it says counted at the most any epic's view gives that stem (``_raw_ceiling``; no
        epic's coverage is more, nor, as a view's entries are at most that, any epic's coverage with
        words explained away), the item coverage the same way (``_item_ceiling``), through the
        calibrations (both grow with each: see :meth:`_can_cut`), less the margin ``_top_above``
        leaves. On a first link of bench/run.py's workload, 12,700 of the 33,600 texts scored cannot
        reach ``linking.suggest`` (0.35): scoring the 33,600 took 0.58 s CPU instead of 0.64 s (one
        thread, the mean of nine runs each). Short texts seldom are left out: their item coverage
        alone can carry them to the minimum."""
        b0, b_raw, b_len = self.params.calibration
        s0, s_raw, s_item, s_len = self.params.calibration_short
        if s_raw < 0.0 or s_item < 0.0:  # a short text's logit would not grow with its coverage
            return np.arange(x.shape[0])
        z_min = _logit_floor(min_score)
        raw = x @ self._raw_ceiling
        item = np.minimum((x @ self._item_ceiling) / np.maximum(known, self._item_floor), 1.0)
        length = np.log1p(n_terms)
        z = np.where(n_terms <= self.params.short_max, s0 + s_len * length + s_raw * raw + s_item * item,
                     b0 + b_len * length + b_raw * raw)
        return np.flatnonzero(z >= z_min)

    def _can_cut(self, min_score: float) -> bool:
        """Whether ``_top_above`` can find the candidates: a score to reach strictly between 0 and
        1, and a long-text calibration that grows with coverage (it can be inverted)."""
        return 0.0 < min_score < 1.0 and self.params.calibration[1] > 0.0

    def _top_above(self, keys: np.ndarray, n_terms: np.ndarray, k: int, min_score: float) -> tuple[np.ndarray, np.ndarray]:
        """(columns, keys): each row's ``k`` best columns by key, best first and ties in column
        order (as passes of argmax pick them), among the keys that can score ``min_score``; a row's
        places left over hold column 0 at -inf, which scores exactly 0.

        A candidate needs ``min_score`` (``linking.suggest``, 0.35): nearly all of a row's 2,000
        keys are far below it. One comparison with each row's key threshold (the calibration
        inverted, less a margin of 1e-3 in the logit, far above float32 rounding) leaves a few
        keys per row to sort, where k passes of argmax read every key k times (0.2 s of a first
        link at 100,000 items). The scores are then computed from the same keys in the same
        (rows x k) arrays as before, so they are the same bits; what is left out scores under
        ``min_score`` and was never a candidate."""
        b0, b_raw, b_len = self.params.calibration
        z_min = _logit_floor(min_score)
        short = n_terms <= self.params.short_max  # (their key is the logit itself: _ranking_keys)
        threshold = np.where(short, z_min, (z_min - b0 - b_len * np.log1p(n_terms)) / b_raw).astype(keys.dtype)
        live = np.flatnonzero(keys.max(axis=1) >= threshold)  # most rows have no candidate at all
        at = np.flatnonzero(keys[live] >= threshold[live, None])
        rows, cols = live[at // keys.shape[1]], at % keys.shape[1]
        vals = keys[rows, cols]
        order = np.lexsort((cols, -vals, rows))
        rows, cols, vals = rows[order], cols[order], vals[order]
        rank = np.arange(len(rows)) - np.searchsorted(rows, rows)
        keep = rank < k
        idx = np.zeros((keys.shape[0], k), dtype=np.int64)
        top = np.full((keys.shape[0], k), -np.inf, dtype=keys.dtype)
        idx[rows[keep], rank[keep]] = cols[keep]
        top[rows[keep], rank[keep]] = vals[keep]
        return idx, top

    def rank_items(self, epic_key: str, texts: Sequence[str], limit: int = 20) -> list[tuple[int, float]]:
        """Best items for one epic: ``(index into texts, score)``, best first.

        The scores are the ones ``score`` gives for this epic, so ``suggest``
        and linking agree. Items sharing nothing with the epic are left out.
        """
        e = self._key_index.get(epic_key)
        if e is None or not texts or limit <= 0:
            return []
        n_epics = len(self._keys)
        cols = self._q[[e, e + n_epics, e + 2 * n_epics]].T.tocsr()
        scores = np.zeros(len(texts))
        short = np.zeros(len(texts), dtype=bool)
        chunk = max(1, self.params.chunk_size) * 8  # three columns: chunks can be larger
        for lo in range(0, len(texts), chunk):
            hi = min(len(texts), lo + chunk)
            x, n_terms, known = self._encode(texts[lo:hi])
            b = (x @ cols).toarray()
            raw = np.maximum(b[:, :1], b[:, 1:2])
            item = b[:, 2:] / np.maximum(known, self._item_floor)[:, None]
            scores[lo:hi] = self._calibrate(self._logit(raw, item, n_terms[:, None]))[:, 0]
            short[lo:hi] = n_terms <= self.params.short_max
        if self.params.explain_away:
            # As score() does, short texts are scored on the words their best epic does not
            # explain. That takes every epic, so only for texts that could make the list:
            # explaining away only lowers a score, so once the best `limit` are all rescored,
            # no text below them can climb above them.
            short &= scores > 0.0
            done = ~short
            while True:
                order = np.argsort(-scores, kind="stable")[:limit]
                todo = order[~done[order]]
                if not len(todo):
                    break
                scores[todo] = self._explained_scores([texts[i] for i in todo], e)
                done[todo] = True
        order = np.argsort(-scores, kind="stable")[:limit]
        return [(int(i), float(scores[i])) for i in order if scores[i] > 0.0]

    def _explained_scores(self, texts: Sequence[str], e: int) -> np.ndarray:
        """Scores of short ``texts`` for epic column ``e``, their words explained away."""
        out = np.zeros(len(texts))
        chunk = max(1, self.params.chunk_size)
        for lo in range(0, len(texts), chunk):
            hi = min(len(texts), lo + chunk)
            x, n_terms, known = self._encode(texts[lo:hi])
            raw, item = self._short_features(x, known, n_terms)
            out[lo:hi] = self._calibrate(self._logit(raw[:, e:e + 1], item[:, e:e + 1], n_terms[:, None]))[:, 0]
        return out
