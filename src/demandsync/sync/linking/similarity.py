"""Text similarity between feedback items and epics, calibrated to 0..1.

Why this shape
--------------
An epic is usually known by a few words ("Offline listening"); feedback is a
sentence or a paragraph that mentions it in passing ("cant even listen to
songs offline unless I get premium"). So the question is not "are these two
texts alike?" (cosine of two documents, which punishes the long review) but
"how much of what names the epic does this item say?". The raw similarity is
a **coverage**: the share of the epic profile's term weight that the item
contains, in ``[0, 1]``.

* Terms are stems of content words (``textnorm``): "listening" meets
  "listen", function words never count.
* Term weights are IDF over the epics (plus, optionally, a background corpus
  of items): a word in every epic ("item" in a shop's backlog) tells epics
  apart poorly, so it counts little.
* The profile is summary (weighted up) + description + labels + texts a PM
  already accepted for the epic (capped to the newest), each field
  normalised first so a long description cannot drown the summary.
* Robustness to spelling uses **character n-grams at the vocabulary level**,
  not per (item, epic) pair: an item word whose stem the epics do not know is
  matched to the epic stem with the most similar 3-grams (Dice >=
  ``FUZZY_MIN_DICE``, counted at that similarity: "offlline" -> "offline"),
  and split into two known words when it is a compound ("darkmode"); two
  adjacent item words that join into a known word ("dark mode" for an epic
  "Darkmode") count too. This is done once per distinct word and cached, so
  it costs nothing per pair. (Per-pair character n-gram coverage was
  measured too: it lowered R-precision on is22-dev, 0.64 vs 0.66, and was
  4x slower.)

Calibration
-----------
``score = logistic(CAL_BIAS + CAL_RAW * raw + CAL_LENGTH * ln(1 + n_terms))``
where ``n_terms`` is the item's count of content words: a long review
mentions many things by chance, so the same coverage is weaker evidence in
it. The three constants were fitted by logistic regression on is22-dev (real
app reviews judged against app features) and the leave-one-app-out figures
are reported by ``bench/linking.py --fit-calibration``; a score reads as
"estimated probability that the judges call this link relevant". An item
sharing no term with an epic scores exactly 0. The margin to the second-best
epic was tried as a feature and got a (small) negative weight: real
backlogs have overlapping epics ("Sell item" / "List items for sale") and an
item may rightly feed both, so it is left out; ``top_k`` shows the
alternatives instead.

Two views per epic: the *name* (the summary) and the *full* profile
(all fields); an item's raw similarity is the better of the two, so a long
description cannot dilute an item that names the epic (the calibration was
fitted on epics known by name only), and description or accepted feedback
can only add evidence.

Speed: tokenising is the only per-token Python; the rest is sparse products
in chunks of ``chunk_size`` items (stems shared by many epics as a small
dense block), a per-row top-k by repeated argmax, and two threads so one
chunk's tokenising overlaps another's arithmetic. No loop per pair.
``bench/link_speed.py``: 100,000 texts x 2,000 epics in ~3 s on 2 cores.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp

from demandsync.sync.linking import textnorm

__all__ = [
    "AUTO_ACCEPT",
    "SUGGEST",
    "Candidate",
    "EpicProfile",
    "PairFeatures",
    "SimilarityModel",
    "SimilarityParams",
    "TermVectors",
    "term_vectors",
]

# Recommended thresholds for config [linking], read off the leave-one-app-out
# sweep of bench/linking.py on is22-dev (links to judged features, top_k=3):
#   AUTO_ACCEPT 0.70: precision 0.96, 25 links, recall 0.09 (0.91 with
#                     background IDF); 0.65 would give 0.91 / 46 links /
#                     0.16 but drops to 0.77 with background IDF.
#   SUGGEST     0.35: precision 0.62, recall 0.57 (a review queue).
AUTO_ACCEPT = 0.70
SUGGEST = 0.35

# Logistic calibration fitted on is22-dev (bench/linking.py --fit-calibration).
CAL_BIAS = -3.29
CAL_RAW = 6.16
CAL_LENGTH = -1.01

# An unknown item word counts as a misspelling of an epic word when their
# 3-gram Dice similarity reaches this ("offlline"/"offline" = 0.77,
# "notifcation"/"notification" = 0.82, "sell"/"seller": not fuzzy-matched,
# words shorter than FUZZY_MIN_LEN never are).
FUZZY_MIN_DICE = 0.75
FUZZY_MIN_LEN = 5

# score(): top_k up to this uses repeated argmax instead of argpartition.
_ARGMAX_TOP_K = 8

# Stems in more epics than this are multiplied as a dense block (speed only).
DENSE_MIN_EPICS = 64

# Bumped whenever tokenising or scoring changes meaning, so fingerprints do.
MODEL_VERSION = "2"


@dataclass(frozen=True, slots=True)
class EpicProfile:
    """What the model knows of one epic: its own text and the feedback a PM
    already accepted for it (``accepted_texts``, oldest first)."""

    summary: str
    description: str = ""
    labels: Sequence[str] = ()
    accepted_texts: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class Candidate:
    """One proposed link: the epic and the calibrated score (0..1)."""

    epic_key: str
    score: float


@dataclass(frozen=True, slots=True)
class SimilarityParams:
    """Knobs of the profile and the calibration. The defaults are the
    measured ones; every field goes into the fingerprint."""

    summary_weight: float = 3.0
    description_weight: float = 1.0
    labels_weight: float = 1.0
    accepted_weight: float = 1.0
    # Only the newest accepted texts count: an epic with 5,000 accepted items
    # should not become a bag of every word users ever typed.
    accepted_cap: int = 200
    fuzzy: bool = True
    chunk_size: int = 2048
    threads: int = 2
    calibration: tuple[float, float, float] = (CAL_BIAS, CAL_RAW, CAL_LENGTH)


@dataclass(frozen=True, slots=True)
class PairFeatures:
    """The calibration's inputs for a batch: ``raw`` is (items x epics),
    ``n_terms`` one count per item. For benchmarks and calibration fitting;
    dense, so small batches only."""

    raw: np.ndarray
    n_terms: np.ndarray


def _idf(df: np.ndarray, n_docs: int) -> np.ndarray:
    # BM25's IDF, floored at a small positive value so a term present in every
    # epic still counts a little (a model of one epic still matches its words).
    return np.maximum(np.log1p((n_docs - df + 0.5) / (df + 0.5)), 0.05)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _trigrams(word: str) -> set[str]:
    return set(textnorm.char_ngrams(word, (3,)))


class SimilarityModel:
    """Scores feedback texts against a fitted set of epic profiles.

    Pure: no store, no I/O. ``fit`` when the profiles change (``fingerprint``
    tells), then ``score`` any number of texts; scores do not depend on which
    other texts are in the batch.
    """

    def __init__(self, params: SimilarityParams | None = None, **overrides: object) -> None:
        base = params or SimilarityParams()
        if overrides:
            base = SimilarityParams(**{**asdict(base), **overrides})  # type: ignore[arg-type]
        self.params = base
        self._keys: list[str] = []
        self._key_index: dict[str, int] = {}
        self._vocab: dict[str, int] = {}  # stem -> column
        self._surface: frozenset[str] = frozenset()  # folded epic words, for compounds
        self._q: sp.csr_matrix = sp.csr_matrix((0, 0))  # epics x stems, rows sum to 1
        self._q_t: sp.csr_matrix = sp.csr_matrix((0, 0))  # stems x epics, light stems only
        self._heavy: np.ndarray = np.zeros(0, dtype=np.int64)
        self._q_heavy: np.ndarray = np.zeros((0, 0), dtype=np.float32)
        self._gram_vocab: dict[str, int] = {}
        self._stem_grams: sp.csr_matrix = sp.csr_matrix((0, 0))  # grams x stems, binary
        self._stem_gram_count: np.ndarray = np.zeros(0)
        self._word_cache: dict[str, tuple[tuple[int, float], ...]] = {}
        self._fingerprint = self._compute_fingerprint({})

    # ------------------------------------------------------------------ fit
    def fit(self, profiles: Mapping[str, EpicProfile], background: Sequence[str] = ()) -> SimilarityModel:
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
        fields: list[list[tuple[float, list[list[str]]]]] = []
        titles: list[list[tuple[float, list[list[str]]]]] = []
        surface: set[str] = set()
        for key in self._keys:
            prof = profiles[key]
            parts = [
                (p.summary_weight, [prof.summary or ""]),
                (p.description_weight, [prof.description or ""]),
                (p.labels_weight, [" ".join(prof.labels or ())]),
                (p.accepted_weight, self._accepted(prof)),
            ]
            fw: list[tuple[float, list[list[str]]]] = []
            tw: list[tuple[float, list[list[str]]]] = []
            for n_part, (weight, texts) in enumerate(parts):
                if weight <= 0:
                    continue
                terms = []
                for t in texts:
                    ws = [w for w in textnorm.words(t) if w not in textnorm.STOP_WORDS and len(w) > 1]
                    surface.update(ws)
                    if ws:
                        terms.append([textnorm.stem(w) for w in ws])
                if terms:
                    fw.append((weight, terms))
                    if n_part == 0:  # the summary: the epic's name (labels are tags, not words
                        tw.append((weight, terms))  # an item must repeat: they stay in the full view)
            fields.append(fw)
            titles.append(tw)
        self._surface = frozenset(surface)
        bg = [set(textnorm.content_terms(t)) for t in background]
        self._q, self._vocab = self._profile_matrix(titles, fields, bg)
        self._split_heavy()
        self._fit_fuzzy_index()
        self._fingerprint = self._compute_fingerprint(profiles, background)
        return self

    def _accepted(self, prof: EpicProfile) -> list[str]:
        cap = self.params.accepted_cap
        texts = [t for t in (prof.accepted_texts or ()) if t and t.strip()]
        return texts[-cap:] if cap > 0 else []

    @staticmethod
    def _profile_matrix(
        titles: list[list[tuple[float, list[list[str]]]]],
        fields: list[list[tuple[float, list[list[str]]]]],
        background: list[set[str]],
    ) -> tuple[sp.csr_matrix, dict[str, int]]:
        """Two views per epic, stacked: rows ``0..E-1`` the *name* view
        (the summary), rows ``E..2E-1`` the *full* view (all fields).
        Each row sums to 1: entry = the term's share of the epic.

        Each text of a field becomes an IDF-weighted vector summing to 1; a
        field is the mean of its texts; a view is the weighted mean of its
        fields. So a field's share is its weight, whatever its length.
        An item's coverage is the better of the two views: naming the epic
        counts fully even when the epic also has a long description (whose
        share would otherwise dilute it, and the calibration was fitted on
        epics known by name only), and matching the description or the
        accepted feedback can only add.
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
        for doc in background:
            df[[vocab[t] for t in doc if t in vocab]] += 1
        idf = _idf(df, len(fields) + len(background))
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
            for i, x in sorted(acc.items()):
                rows.append(e)
                cols.append(i)
                vals.append(x)
        q = sp.csr_matrix((vals, (rows, cols)), shape=(2 * len(fields), len(vocab)), dtype=np.float32)
        return q, vocab

    def _split_heavy(self) -> None:
        """Stems shared by many epics go to a small dense block.

        The (items x epics) product is nearly dense because a few common stems
        touch many epics; sparse x sparse then spends its time on bookkeeping.
        Those stems times a dense block, plus the rest sparse, give the same
        numbers about 5x faster.
        """
        q_t = self._q.T.tocsr()
        df = np.diff(q_t.indptr)
        heavy = np.flatnonzero(df > DENSE_MIN_EPICS)
        self._heavy = heavy
        self._q_heavy = q_t[heavy].toarray()
        light = q_t.copy()
        mask = np.zeros(q_t.shape[0], dtype=bool)
        mask[heavy] = True
        light.data[np.repeat(mask, df)] = 0.0
        light.eliminate_zeros()
        self._q_t = light

    def _raw(self, x: sp.csr_matrix) -> np.ndarray:
        """(items x epics) raw coverage for encoded items ``x``: the better
        of the name view and the full view."""
        both = (x @ self._q_t).toarray()
        if len(self._heavy):
            both += x[:, self._heavy] @ self._q_heavy
        n_epics = len(self._keys)
        return np.maximum(both[:, :n_epics], both[:, n_epics:])

    def _fit_fuzzy_index(self) -> None:
        """3-gram index of the epic stems, for matching misspelt item words."""
        gram_vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        counts = np.zeros(len(self._vocab))
        for stem_, j in self._vocab.items():
            if len(stem_) < FUZZY_MIN_LEN - 1:
                continue
            grams = _trigrams(stem_)
            counts[j] = len(grams)
            for g in grams:
                rows.append(gram_vocab.setdefault(g, len(gram_vocab)))
                cols.append(j)
        self._gram_vocab = gram_vocab
        self._stem_grams = sp.csr_matrix(
            (np.ones(len(rows)), (rows, cols)), shape=(len(gram_vocab), len(self._vocab))
        )
        self._stem_gram_count = counts

    # ------------------------------------------------------------- encoding
    def _word_terms(self, words: list[str]) -> None:
        """Fill the cache: which epic stems (and how strongly) each word means."""
        vocab, surface = self._vocab, self._surface
        unknown: list[str] = []
        found: dict[str, tuple[tuple[int, float], ...]] = {}
        for w in words:
            sid = vocab.get(textnorm.stem(w))
            if sid is not None:
                found[w] = ((sid, 1.0),)
                continue
            # a compound of two epic words: "darkmode", "playlistshuffle"
            parts: tuple[tuple[int, float], ...] = ()
            for i in range(3, len(w) - 2):
                a, b = w[:i], w[i:]
                if a in surface and b in surface:
                    sa, sb = vocab.get(textnorm.stem(a)), vocab.get(textnorm.stem(b))
                    if sa is not None and sb is not None:
                        parts = ((sa, 1.0), (sb, 1.0))
                        break
            found[w] = parts
            if not parts and self.params.fuzzy and len(w) >= FUZZY_MIN_LEN and w.isalpha():
                unknown.append(w)
        if unknown and self._stem_grams.shape[0]:
            found.update(self._fuzzy_match(unknown))
        # published in one step: a concurrent chunk never sees a half-done word
        self._word_cache.update(found)

    def _fuzzy_match(self, words: list[str]) -> dict[str, tuple[tuple[int, float], ...]]:
        gram_vocab = self._gram_vocab
        rows: list[int] = []
        cols: list[int] = []
        sizes = np.zeros(len(words))
        for i, w in enumerate(words):
            grams = _trigrams(textnorm.stem(w))
            sizes[i] = len(grams)
            for g in grams:
                j = gram_vocab.get(g)
                if j is not None:
                    rows.append(i)
                    cols.append(j)
        u = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(words), len(gram_vocab)))
        overlap = (u @ self._stem_grams).tocoo()
        dice = 2.0 * overlap.data / (sizes[overlap.row] + self._stem_gram_count[overlap.col])
        keep = dice >= FUZZY_MIN_DICE
        best: dict[int, tuple[float, int]] = {}
        for r, c, d in zip(overlap.row[keep].tolist(), overlap.col[keep].tolist(), dice[keep].tolist()):
            if r not in best or (d, -c) > (best[r][0], -best[r][1]):
                best[r] = (d, c)
        return {words[r]: ((c, float(d)),) for r, (d, c) in best.items()}

    def _encode(self, texts: Sequence[str]) -> tuple[sp.csr_matrix, np.ndarray]:
        """(items x epic stems) evidence in 0..1, and content-word counts.

        Python touches each token once (to give it a batch-local id) and each
        distinct word once per model (cached); the lift to epic stems is one
        sparse product.
        """
        batch_vocab: dict[str, int] = {}
        indices: list[int] = []
        indptr = [0]
        n_terms = np.zeros(len(texts), dtype=np.float64)
        stop, surface = textnorm.STOP_WORDS, self._surface
        findall, fold = textnorm._WORD_RE.findall, textnorm.fold
        for i, text in enumerate(texts):
            toks = [w for w in findall(fold(text or "")) if w not in stop and len(w) > 1]
            n_terms[i] = len(toks)
            uniq = set(toks)
            # adjacent words that join into an epic word: "dark mode" -> "darkmode"
            uniq.update(j for j in map(str.__add__, toks, toks[1:]) if j in surface)
            for w in uniq:
                j = batch_vocab.get(w)
                if j is None:
                    j = batch_vocab[w] = len(batch_vocab)
                indices.append(j)
            indptr.append(len(indices))
        cache = self._word_cache
        new = [w for w in batch_vocab if w not in cache]
        if new:
            self._word_terms(new)
        f_rows: list[int] = []
        f_cols: list[int] = []
        f_vals: list[float] = []
        for w, j in batch_vocab.items():
            for sid, weight in cache[w]:
                f_rows.append(j)
                f_cols.append(sid)
                f_vals.append(weight)
        w_mat = sp.csr_matrix(
            (np.ones(len(indices), dtype=np.float32), np.asarray(indices, dtype=np.int32), np.asarray(indptr, dtype=np.int64)),
            shape=(len(texts), len(batch_vocab)),
        )
        f_mat = sp.csr_matrix((f_vals, (f_rows, f_cols)), shape=(len(batch_vocab), len(self._vocab)), dtype=np.float32)
        x = (w_mat @ f_mat).tocsr()
        np.minimum(x.data, 1.0, out=x.data)  # a stem said twice is still said once
        return x, n_terms

    def _calibrate(self, raw: np.ndarray, n_terms: np.ndarray) -> np.ndarray:
        b0, b_raw, b_len = self.params.calibration
        z = b0 + b_raw * raw + b_len * np.log1p(n_terms)
        return np.where(raw > 0.0, _sigmoid(z), 0.0)

    # ---------------------------------------------------------------- query
    def features(self, texts: Sequence[str]) -> PairFeatures:
        """Dense raw similarity and item lengths for all (text, epic) pairs."""
        if not texts or not self._keys:
            return PairFeatures(raw=np.zeros((len(texts), len(self._keys))), n_terms=np.zeros(len(texts)))
        x, n_terms = self._encode(texts)
        return PairFeatures(raw=self._raw(x).astype(np.float64), n_terms=n_terms)

    def score(self, texts: Sequence[str], top_k: int = 3, min_score: float = 0.2) -> list[list[Candidate]]:
        """Best epics per text (best first): at most ``top_k``, each scoring at
        least ``min_score`` (and always > 0)."""
        out: list[list[Candidate]] = [[] for _ in texts]
        n_epics = len(self._keys)
        if not texts or n_epics == 0 or top_k <= 0:
            return out
        k = min(top_k, n_epics)
        chunk = max(1, self.params.chunk_size)
        spans = [(lo, min(len(texts), lo + chunk)) for lo in range(0, len(texts), chunk)]

        def one(span: tuple[int, int]) -> tuple[int, np.ndarray, np.ndarray]:
            lo, hi = span
            x, n_terms = self._encode(texts[lo:hi])
            raw = self._raw(x)
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
            return lo, idx, self._calibrate(top, n_terms[:, None])

        # Two threads: one tokenises (Python, holds the GIL) while the other
        # multiplies/partitions (scipy/numpy, release it). Chunks are
        # independent, so results do not depend on the scheduling.
        if len(spans) > 1 and self.params.threads > 1:
            with ThreadPoolExecutor(max_workers=self.params.threads) as pool:
                results = list(pool.map(one, spans))
        else:
            results = [one(s) for s in spans]
        keys = self._keys
        for lo, idx, sc in results:
            rows, cols = np.nonzero((sc >= min_score) & (sc > 0.0))
            for r, c in zip(rows.tolist(), cols.tolist()):
                out[lo + r].append(Candidate(keys[idx[r, c]], float(sc[r, c])))
        return out

    def rank_items(self, epic_key: str, texts: Sequence[str], limit: int = 20) -> list[tuple[int, float]]:
        """Best items for one epic: ``(index into texts, score)``, best first.

        The scores are the ones ``score`` gives for this epic, so ``suggest``
        and linking agree. Items sharing nothing with the epic are left out.
        """
        e = self._key_index.get(epic_key)
        if e is None or not texts or limit <= 0:
            return []
        cols = self._q[[e, e + len(self._keys)]].T.tocsr()
        scores = np.zeros(len(texts))
        chunk = max(1, self.params.chunk_size) * 8  # two columns: chunks can be larger
        for lo in range(0, len(texts), chunk):
            hi = min(len(texts), lo + chunk)
            x, n_terms = self._encode(texts[lo:hi])
            scores[lo:hi] = self._calibrate((x @ cols).toarray().max(axis=1), n_terms)
        order = np.argsort(-scores, kind="stable")[:limit]
        return [(int(i), float(scores[i])) for i in order if scores[i] > 0.0]

    # ---------------------------------------------------------- fingerprint
    def _compute_fingerprint(self, profiles: Mapping[str, EpicProfile], background: Sequence[str] = ()) -> str:
        bg = hashlib.sha256("\0".join(sorted(t or "" for t in background)).encode("utf-8")).hexdigest() if background else ""
        doc = {
            "background": bg,
            "v": MODEL_VERSION,
            "fuzzy": [FUZZY_MIN_DICE, FUZZY_MIN_LEN],
            # chunk_size/threads change speed, never results
            "params": {k: v for k, v in asdict(self.params).items() if k not in ("chunk_size", "threads")},
            "profiles": [
                [k, profiles[k].summary or "", profiles[k].description or "", sorted(profiles[k].labels or ()), self._accepted(profiles[k])]
                for k in sorted(profiles)
            ],
        }
        blob = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def fingerprint(self) -> str:
        """Hash of the fitted profiles and params: it changes exactly when
        linking results could change, so the engine knows to relink all."""
        return self._fingerprint

    @property
    def epic_keys(self) -> list[str]:
        """The fitted epic keys, in column order (sorted)."""
        return list(self._keys)


@dataclass(frozen=True, slots=True)
class TermVectors:
    """Items as rows of IDF-weighted, L2-normalised stem vectors (see :func:`term_vectors`)."""

    matrix: sp.csr_matrix
    #: The stem of each column, and its IDF.
    terms: list[str]
    idf: np.ndarray


def term_vectors(texts: Sequence[str]) -> TermVectors:
    """The linking model's representation of items, for comparing items with each other.

    Same terms as :class:`SimilarityModel` (``textnorm`` stems of content words,
    stop words dropped) and the same BM25 IDF, with the texts themselves as the
    documents: a word every item says ("work", "update") tells groups apart
    poorly. Each row is the item's set of stems, IDF-weighted and L2-normalised,
    so a dot product is a cosine.
    Used to group unlinked feedback into themes (``linking/themes.py``).
    """
    vocab: dict[str, int] = {}
    indices: list[int] = []
    indptr = [0]
    for text in texts:
        for t in dict.fromkeys(textnorm.content_terms(text or "")):  # first-seen order: same columns every run
            indices.append(vocab.setdefault(t, len(vocab)))
        indptr.append(len(indices))
    x = sp.csr_matrix((np.ones(len(indices), dtype=np.float32), np.asarray(indices, dtype=np.int32),
                       np.asarray(indptr, dtype=np.int64)), shape=(len(texts), len(vocab)))
    if not len(vocab):
        return TermVectors(x, [], np.zeros(0))
    idf = _idf(np.bincount(x.indices, minlength=len(vocab)), len(texts))
    x = (x @ sp.diags(idf.astype(np.float32))).tocsr()
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    x = sp.diags(1.0 / norms).astype(np.float32) @ x
    terms = [""] * len(vocab)
    for t, j in vocab.items():
        terms[j] = t
    return TermVectors(x.tocsr(), terms, idf)
