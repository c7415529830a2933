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
* Term weights are IDF over the epics plus a background corpus of items
  (the engine passes a sample of the store): a word in every epic ("item"
  in a shop's backlog) or in every item ("love", the product's name) tells
  epics apart poorly, so it counts little.
* The profile is summary (weighted up) + description + labels + texts a PM
  already accepted for the epic (capped to the newest), each field
  normalised first so a long description cannot drown the summary. Texts a
  PM rejected for the epic push back: their words that the epic's own text
  and accepted feedback do not use enter the profile negatively. Only
  *specific* words of decisions count (see "Learning from decisions").
* Initialisms of the epic's name count as its words: "SSO" for "Single
  sign-on", "2FA" for "Two-factor authentication" (runs of 2-5 words of the
  summary; number words as digits).
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

Synonyms: a word no epic uses but the **lexicon** shipped with the package
(``lexicon.txt``, read by ``textnorm.synonyms``) calls a synonym of an epic
word counts at ``LEXICON_STRENGTH`` ("hotkeys" -> "shortcut", "xlsx" ->
"excel", "colour" -> "color"); a word the epic does use also brings its
synonyms. WordNet relates neither "night"/"dark" nor "SSO"/"SAML", so the
list is general software-feedback vocabulary, kept small and readable; its
digest is in ``model_identity``. An entry may be two words joined
("nightmode"): an item saying them side by side ("night mode") matches it, as
it matches an epic's compound ("dark mode" -> "Darkmode"), so a word that is
a synonym only in a phrase ("night") does not match alone. Measured (bench/shortanswers.py): right epic
among the suggestions 0.744 -> 0.805; is22-dev unchanged (0.687 -> 0.685,
from three new filler words). A small embedding model was not tried: the
lexical route reached the short-answer targets.

**Generic words** ("mode", "option", "data", "file": ``textnorm.GENERIC_WORDS``)
name a kind of thing, not the thing; their IDF is multiplied by
``GENERIC_SHARE``, so "Dark mode" is known by "dark" and "Import data" by
"import" ("Need my backup data" stops suggesting "Import data").

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

Two views per epic: the *name* (the summary) and the *full* profile
(all fields); an item's raw similarity is the better of the two, so a long
description cannot dilute an item that names the epic (the calibration was
fitted on epics known by name only), and description or accepted feedback
can only add evidence.

What was measured and dropped (issue 18: pseudo-relevance feedback, term frequency,
length forms, sentence features, more synonyms, an embedding model, ...), each with its
is22-dev figure, is in ``docs/linking.md``; so are the rules a change to linking is judged by.

Learning from decisions
-----------------------
A PM's accepts and rejects are about items, and the model learns words from
them only where the words say something about the epic:

* an accepted text's word counts when ``accepted_min_texts`` of the accepted
  texts say it (all of them when fewer) and, unless the epic's own text uses
  it, when it is at least ``decision_lift`` (16) times likelier in the
  accepted texts than in the background ("subway", said by three of three
  accepted reviews and by few others; not "great", "app", "love", "kindle",
  which many reviews say);
* a rejected text's word pushes back when at least two rejected texts (and
  ``accepted_min_texts`` when there are that many) say it, no accepted text
  says it, the epic's own text does not use it, and it too is
  ``decision_lift`` times likelier in the rejected texts than in the
  background. One rejected item says "not this item", not "not these words".

Without a background (tests, a model of epics alone) the lift is not
applied: there is nothing to compare with. With no decisions nothing here
runs, so every score is the same bits as before.

``docs/linking.md`` has the figures (``bench/linking.py``'s simulation of a PM deciding
the top suggestions of each judged is22-dev feature) and what was tried instead.

Speed: no Python runs per token (tokenising is C loops and numpy over a
batch; Python touches each distinct word of it: ``_said``); the rest is
sparse products in chunks of ``chunk_size`` items (stems shared by many epics
as a small dense block; an epic known by its summary alone multiplied once,
not once per view), a per-row top-k among the keys that can reach the
minimum score (``_top_above``; by repeated argmax without a minimum), texts
whose ceiling cannot reach that minimum left out of the products
(``_may_reach``). One thread: a second, tokenising one chunk while another
chunk's products ran, cost more CPU and no wall time (``docs/performance.md``).
No loop per pair.
Item coverage is computed for short texts only (the long calibration does
not use it). ``bench/link_speed.py``: 100,000 texts x 2,000 epics in ~3 s
on 2 cores.

Explaining: ``evidence(text, epic)`` recomputes the words that carried a
score (their share of the logit; "offlline->offline", "sso->single+sign",
"-word" for one held back by rejected feedback), for ``suggest`` and
``explain``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from itertools import count
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp

from demandsync.sync.linking import textnorm

__all__ = [
    "AUTO_ACCEPT",
    "SUGGEST",
    "Candidate",
    "EpicProfile",
    "Evidence",
    "PairFeatures",
    "SimilarityModel",
    "SimilarityParams",
    "TermVectors",
    "UnchangedScores",
    "term_vectors",
]

# Recommended thresholds for config [linking], read off bench/linking.py
# (is22-dev, leave-one-app-out, links to judged features, top_k=3) and
# bench/shortanswers.py (held-out folds of epics):
#   AUTO_ACCEPT 0.70: is22-dev precision 0.97, 31 links, recall 0.11;
#                     short answers precision 0.986 (145 links).
#   SUGGEST     0.35: is22-dev precision 0.65, recall 0.64; short answers:
#                     the right epic among the candidates for 0.84 (0.89
#                     without the is22-dev rows), 0.98 of candidates right.
AUTO_ACCEPT = 0.70
SUGGEST = 0.35

# Texts of at most SHORT_MAX content words are scored by the short-text
# calibration, longer ones by the long-text one (see "Calibration" above).
SHORT_MAX = 7

# Long texts: fitted on is22-dev reviews of more than SHORT_MAX content words
# (bench/linking.py --fit-calibration): (bias, epic coverage, length).
CAL_BIAS = -3.32
CAL_RAW = 5.7
CAL_LENGTH = -0.85

# Short texts: fitted on the short-answer benchmark without its is22-dev rows
# plus is22-dev's short reviews (each at weight 0.5; bench/shortanswers.py
# --fit-calibration, which also prints held-out figures for both): (bias, epic
# coverage, item coverage, length).
CAL_SHORT = (-3.52, 3.53, 6.36, 0.04)

# A word no epic uses counts this share of the rarest word's IDF in an item's
# own term weight (the denominator of the item-side coverage).
UNKNOWN_SHARE = 1.0
# ... and that weight is at least ITEM_FLOOR rare words: "I love WhatsApp"
# says one common word, which an epic "WhatsApp call" covers, but that is not
# saying much. (Measured: 2.0 keeps is22-dev's automatic links at 0.92
# precision; without a floor they fall to 0.69.)
ITEM_FLOOR = 2.0

# An unknown item word counts as a misspelling of an epic word when their
# 3-gram Dice similarity reaches this ("offlline"/"offline" = 0.77,
# "notifcation"/"notification" = 0.82, "sell"/"seller": not fuzzy-matched,
# words shorter than FUZZY_MIN_LEN never are).
FUZZY_MIN_DICE = 0.75
FUZZY_MIN_LEN = 5

# A word the epic does not use but the shipped lexicon calls a synonym of one
# it does ("hotkeys" for "Keyboard shortcuts") counts this much of that word.
LEXICON_STRENGTH = 0.8

# The IDF of a generic word ("mode", "option", "data": textnorm.GENERIC_WORDS)
# is multiplied by this, so "Dark mode" is known by "dark". Measured
# (bench/shortanswers.py, bench/linking.py): 1.0 / 0.5 / 0.3 -> right epic
# among short-answer suggestions 0.805 / 0.847 / 0.847, is22-dev R-precision
# 0.691 / 0.692 / 0.699.
GENERIC_SHARE = 0.3

# A "word" longer than this is not a word (a pasted blob, base64, a URL with
# its punctuation lost): it is looked up as is, but never split into a
# compound nor fuzzy-matched. Both of those cost time in the word's length
# (the compound search was quadratic: a single 1.2M-character feedback answer
# took minutes), and no epic is named with a 40-letter word.
MAX_WORD_LEN = 40

def _logit_floor(min_score: float) -> float:
    """The logit a key must reach to score ``min_score``, less a margin of 1e-3 (far above float32
    rounding): what ``_top_above`` and ``_may_reach`` compare with, so they leave out the same."""
    return math.log(min_score / (1.0 - min_score)) - 1e-3


# score(): top_k up to this uses repeated argmax instead of argpartition.
_ARGMAX_TOP_K = 8

# Stems in more epics than this are multiplied as a dense block (speed only).
DENSE_MIN_EPICS = 64

# Bumped whenever tokenising or scoring changes meaning, so fingerprints do.
MODEL_VERSION = "11"

# Bumped whenever SimilarityModel.snapshot() changes what it holds (an old one is then not used).
SNAPSHOT_VERSION = 1


@dataclass(frozen=True, slots=True)
class EpicProfile:
    """What the model knows of one epic: its own text and the feedback a PM
    already accepted for it (``accepted_texts``, oldest first)."""

    summary: str
    description: str = ""
    labels: Sequence[str] = ()
    accepted_texts: Sequence[str] = ()
    #: Feedback a PM rejected for this epic (oldest first): its specific words that
    #: several rejected texts say, and the epic's own text and accepted feedback do
    #: not use, count against the epic.
    rejected_texts: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class Candidate:
    """One proposed link: the epic and the calibrated score (0..1)."""

    epic_key: str
    score: float


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


def model_identity(params: SimilarityParams | None = None) -> dict[str, Any]:
    """What, besides the epics and the decisions, decides every score: the model's version (bumped
    with any change to scoring or calibration), the fuzzy-match thresholds and the params. Part of
    every fingerprint, so that upgrading demandsync relinks stored items when scores change."""
    params = params or SimilarityParams()
    # chunk_size changes speed, never results
    return {"v": MODEL_VERSION, "fuzzy": [FUZZY_MIN_DICE, FUZZY_MIN_LEN],
            "lexicon": textnorm.lexicon_digest() if params.lexicon else "",
            "params": {k: v for k, v in asdict(params).items() if k != "chunk_size"}}


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
    #: A word of accepted feedback widens the profile when this many accepted texts say it
    #: (all of them when fewer); a word of rejected feedback pushes back when this many
    #: rejected texts say it (all of them when fewer, but at least two).
    accepted_min_texts: int = 3
    #: A word of accepted (rejected) feedback that the epic's own text does not use counts only when
    #: it is at least this many times likelier in the accepted (rejected) texts than in the background
    #: (0: any word; no background: not applied).
    decision_lift: float = 16.0
    #: How hard a rejected text pushes back: its own words' share of the
    #: epic, times this, is subtracted from the coverage of items saying them.
    rejected_weight: float = 0.25
    fuzzy: bool = True
    acronyms: bool = True
    #: Synonyms from the shipped lexicon (``lexicon.txt``) count, at this strength.
    lexicon: bool = True
    lexicon_strength: float = LEXICON_STRENGTH
    #: Short texts: words the best epic explains are no evidence for the others.
    explain_away: bool = True
    #: The IDF of ``textnorm.GENERIC_WORDS`` ("mode", "option", "data") is multiplied by this.
    generic_share: float = GENERIC_SHARE
    chunk_size: int = 2048
    unknown_share: float = UNKNOWN_SHARE
    item_floor: float = ITEM_FLOOR
    short_max: int = SHORT_MAX
    #: Long texts: (bias, epic coverage, L), L = ln(1 + content words).
    calibration: tuple[float, float, float] = (CAL_BIAS, CAL_RAW, CAL_LENGTH)
    #: Short texts: (bias, epic coverage, item coverage, L).
    calibration_short: tuple[float, float, float, float] = CAL_SHORT


@dataclass(frozen=True, slots=True)
class PairFeatures:
    """The calibration's inputs for a batch: ``raw`` is (items x epics),
    ``n_terms`` one count per item. For benchmarks and calibration fitting;
    dense, so small batches only."""

    raw: np.ndarray
    n_terms: np.ndarray
    #: (items x epics): share of the item's own term weight the epic knows.
    item: np.ndarray


def _idf(df: np.ndarray, n_docs: int) -> np.ndarray:
    # BM25's IDF, floored at a small positive value so a term present in every
    # epic still counts a little (a model of one epic still matches its words).
    return np.maximum(np.log1p((n_docs - df + 0.5) / (df + 0.5)), 0.05)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def compound_splits(word: str, max_part: int) -> range:
    """Where ``word`` may split into two known words of at most ``max_part``
    letters each (and at least 3): empty for words over ``MAX_WORD_LEN``, so
    the work per word is bounded, whatever its length."""
    n = len(word)
    if n > MAX_WORD_LEN or n > 2 * max_part:
        return range(0)
    return range(max(3, n - max_part), min(n - 2, max_part + 1))


_NUMBER_WORDS = {"two": "2", "three": "3", "four": "4"}
_CONJUNCTIONS = frozenset({"and", "or"})


def _acronyms(summary: str) -> dict[str, list[str]]:
    """Initialisms an epic's name could be written as, with the stems they
    stand for: "Single sign-on" -> "sso"; "Two-factor authentication" ->
    "tfa" and "2fa". Runs of 2 to 5 words starting with a content word; only
    from the summary (a description yields too many accidental ones). A run
    stops at "and"/"or": "Backup and restore" gave "bar", so "no search bar!"
    was auto-linked to backups (initialisms across a conjunction are written
    with "&", which the tokenizer drops: "R&D" -> "r", "d")."""
    ws = textnorm.words(summary)
    stop = textnorm.STOP_WORDS
    alpha = [w.isalpha() for w in ws]
    # each word's stem once (None: a stop word or a letter), not once per run it is in
    stems = [textnorm.stem(w) if a and w not in stop and len(w) > 1 else None for w, a in zip(ws, alpha, strict=True)]
    out: dict[str, list[str]] = {}
    for i, first in enumerate(ws):
        if first in stop or not alpha[i]:
            continue
        letters, digits = first[0], _NUMBER_WORDS.get(first, first[0])
        for j in range(i + 1, min(len(ws), i + 5)):  # the run ws[i..j], 2 to 5 words
            w = ws[j]
            if not alpha[j] or w in _CONJUNCTIONS:
                break
            letters += w[0]
            digits += _NUMBER_WORDS.get(w, w[0])
            if len(letters) < 3:
                continue
            run = [t for t in stems[i:j + 1] if t is not None]
            for initials in (letters,) if letters == digits else (letters, digits):
                known = out.setdefault(initials, [])
                known.extend(t for t in run if t not in known)
    return out


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


def _join_parts(joins: frozenset[str]) -> tuple[frozenset[str], frozenset[str]]:
    """(heads, tails): the words that can start or end a join (each of ``joins`` split in two words
    of at least two letters), so ``_said`` spells out only the adjacent pairs that may join."""
    heads = frozenset(j[:i] for j in joins for i in range(2, len(j) - 1))
    tails = frozenset(j[i:] for j in joins for i in range(2, len(j) - 1))
    return heads, tails


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


class _Rows(NamedTuple):
    """Rows of word ids as a CSR matrix holds them: row ``i`` is ``indices[indptr[i]:indptr[i + 1]]``."""

    indices: np.ndarray
    indptr: np.ndarray


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
            base = SimilarityParams(**{**asdict(base), **overrides})
        self.params = base
        self._keys: list[str] = []
        self._key_index: dict[str, int] = {}
        self._vocab: dict[str, int] = {}  # stem -> column
        self._surface: frozenset[str] = frozenset()  # folded epic words, for compounds
        self._surface_max = 0  # length of the longest of them
        self._joins: frozenset[str] = frozenset()  # what two adjacent item words may join into
        #: the words that can start a join and those that can end one: see _join_parts
        self._join_heads: frozenset[str] = frozenset()
        self._join_tails: frozenset[str] = frozenset()
        self._q: sp.csr_matrix = sp.csr_matrix((0, 0))  # epics x stems, rows sum to 1
        self._q_t: sp.csr_matrix = sp.csr_matrix((0, 0))  # stems x epics, light stems only
        self._s_t: sp.csr_matrix = sp.csr_matrix((0, 0))  # stems x epics, IDF of the epic's own words
        self._s_heavy: np.ndarray = np.zeros(0, dtype=np.int64)
        self._s_heavy_block: np.ndarray = np.zeros((0, 0), dtype=np.float32)
        self._heavy: np.ndarray = np.zeros(0, dtype=np.int64)
        self._q_heavy: np.ndarray = np.zeros((0, 0), dtype=np.float32)
        self._full: np.ndarray = np.zeros(0, dtype=np.int64)  # epics whose full view is not their name view
        #: per stem, the most any epic's view (any epic's own words) gives it, and at least 0: _may_reach
        self._raw_ceiling: np.ndarray = np.zeros(0)
        self._item_ceiling: np.ndarray = np.zeros(0)
        self._gram_vocab: dict[str, int] = {}
        self._stem_grams: sp.csr_matrix = sp.csr_matrix((0, 0))  # grams x stems, binary
        self._stem_gram_count: np.ndarray = np.zeros(0)
        self._word_cache: dict[str, tuple[tuple[int, float], ...]] = {}
        self._idf: np.ndarray = np.zeros(0)
        self._idf_item: np.ndarray = np.zeros(0, dtype=np.float32)
        self._idf_unknown = 1.0
        self._item_floor = 1.0
        self._acronym_terms: dict[str, tuple[tuple[int, float], ...]] = {}
        self._display: dict[str, str] = {}  # stem -> the epic word shown for it
        self._snapshot: dict[str, Any] | None = None
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
                for acr, stems in _acronyms(prof.summary or "").items():
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
        self._q, self._vocab, self._idf = self._profile_matrix(titles, fields, support, rejected, bg, p.rejected_weight,
                                                               p.generic_share)
        self._idf_unknown = float(_idf(np.zeros(1), len(fields) + len(bg))[0])
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
        self._join_heads, self._join_tails = _join_parts(self._joins)
        self._acronym_terms = {
            a: tuple((self._vocab[t], 1.0) for t in st if t in self._vocab)
            for a, st in acronyms.items() if a not in surface
        }
        self._split_heavy()
        self._fit_fuzzy_index()
        self._fingerprint = self._compute_fingerprint(profiles, background)
        return self

    def _background_rate(self, profiles: Mapping[str, EpicProfile], bg: list[set[str]]) -> Callable[[str], float] | None:
        """The share of the background texts that say each term, when decisions are to be weighed
        against it (None: no decisions, no lift, or no background; then every word may count).
        Counted here only when there are decisions, so a model without any costs nothing more."""
        if self.params.decision_lift <= 0 or not bg:
            return None
        if not any(self._accepted(profiles[k]) or self._rejected(profiles[k]) for k in self._keys):
            return None
        df = Counter(t for doc in bg for t in doc)
        n = len(bg)
        return lambda t: df.get(t, 0) / n

    def _specific(self, t: str, share: float, rate: Callable[[str], float] | None) -> bool:
        """Is ``t``, said by a ``share`` of some decided texts, much likelier there than in the background?"""
        return rate is None or share >= self.params.decision_lift * rate(t)

    def _pushing(self, rejected: list[str], accepted: list[str], rate: Callable[[str], float] | None) -> list[list[str]]:
        """The terms of each rejected text that push back: said by at least two rejected texts
        (``accepted_min_texts`` when there are that many), by no accepted text, and specific
        (``_specific``). A rejected review's one-off words ("ebay", "kindle") are what relevant
        reviews say too; a word several rejected texts share, and few reviews say, is a sense
        of the epic's words the PM keeps turning down ("says I'm offline" for "Offline
        listening"). The epic's own words never push back (``_profile_matrix``)."""
        texts = [textnorm.content_terms(t) for t in rejected]
        if not texts:
            return texts
        said = {t for a in accepted for t in textnorm.content_terms(a)}
        seen = Counter(t for toks in texts for t in set(toks))
        need = max(2, min(self.params.accepted_min_texts, len(texts)))
        keep = {t for t, c in seen.items() if c >= need and t not in said and self._specific(t, c / len(texts), rate)}
        return [[t for t in toks if t in keep] for toks in texts]

    def _consistent(self, texts: list[list[str]], own: set[str],
                    rate: Callable[[str], float] | None) -> list[list[str]]:
        """The terms of accepted texts that several of them say (at least
        ``accepted_min_texts``, or all of them when fewer): a long accepted
        review brings dozens of incidental words ("song", "update", "phone"),
        and an item repeating them is not about the epic. Measured on is22-dev
        (bench/linking.py, a PM deciding the top 5/10/20 suggestions of each
        feature): R-precision of the rest 0.549/0.410/0.214 with every word,
        0.561/0.419/0.251 with words of three texts. Of those, a word the epic's
        own text (``own``) does not use counts only when specific (``_specific``:
        "great", "love" were shared by three accepted reviews as by most reviews):
        0.561/0.421/0.303 (module docstring, "Learning from decisions")."""
        need = min(self.params.accepted_min_texts, len(texts))
        if need <= 1 and rate is None:
            return texts
        seen = Counter(t for toks in texts for t in set(toks))
        ok = {t for t, c in seen.items() if c >= need and (t in own or self._specific(t, c / len(texts), rate))}
        return [kept for toks in texts if (kept := [t for t in toks if t in ok])]

    def _accepted(self, prof: EpicProfile) -> list[str]:
        cap = self.params.accepted_cap
        texts = [t for t in (prof.accepted_texts or ()) if t and t.strip()]
        return texts[-cap:] if cap > 0 else []

    def _rejected(self, prof: EpicProfile) -> list[str]:
        cap = self.params.accepted_cap
        texts = [t for t in (prof.rejected_texts or ()) if t and t.strip()]
        return texts[-cap:] if cap > 0 and self.params.rejected_weight > 0 else []

    @staticmethod
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
        idf = _idf(df, len(fields) + len(background))
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

    def _logits_of_keys(self, keys: np.ndarray, n_terms: np.ndarray) -> np.ndarray:
        """The calibrated logits of (rows x k) chosen ``_ranking_keys``."""
        b0, b_raw, b_len = self.params.calibration
        z = np.where(keys > 0.0, b0 + b_len * np.log1p(n_terms)[:, None] + b_raw * keys, -np.inf)
        short = n_terms <= self.params.short_max
        z[short] = keys[short]
        return z

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
        lexicon = textnorm.synonyms() if self.params.lexicon else {}
        strength = self.params.lexicon_strength
        for w in words:
            st = textnorm.stem(w)
            sid = vocab.get(st)
            # a synonym of an epic word, from the shipped lexicon: "hotkeys" -> "shortcut"
            syn = tuple((j, strength) for j in sorted({vocab[s] for s in lexicon.get(st, ()) if s in vocab} - {sid}))
            if sid is not None:
                found[w] = ((sid, 1.0), *syn)
                continue
            # an initialism of the epic's name: "sso" for "single sign-on"
            parts: tuple[tuple[int, float], ...] = self._acronym_terms.get(w, ()) or syn
            if parts:
                found[w] = parts
                continue
            # a compound of two epic words: "darkmode", "playlistshuffle"
            for i in compound_splits(w, self._surface_max):
                a, b = w[:i], w[i:]
                if a in surface and b in surface:
                    sa, sb = vocab.get(textnorm.stem(a)), vocab.get(textnorm.stem(b))
                    if sa is not None and sb is not None:
                        parts = ((sa, 1.0), (sb, 1.0))
                        break
            found[w] = parts
            if not parts and self.params.fuzzy and FUZZY_MIN_LEN <= len(w) <= MAX_WORD_LEN and w.isalpha():
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

    def _encode(self, texts: Sequence[str]) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """(items x epic stems) evidence in 0..1, content-word counts, and each
        item's total term weight (IDF of what it says; a word no epic uses
        counts as the rarest).

        Python touches each distinct word of the batch once (and each distinct word once per model
        for its meaning, cached); per token, only C loops run (the regex, one ``dict.setdefault``
        through ``map``) and numpy: ``_said`` gives each text's words as rows of ids. The lift to
        epic stems is one sparse product.
        """
        rows, words, n_terms = self._said(texts)
        # The words the batch says, renumbered (any numbering gives the same products: only each
        # row's order of words matters, see _said).
        used, indices = np.unique(rows.indices, return_inverse=True)
        batch_vocab = [words[i] for i in used.tolist()]
        cache = self._word_cache
        new = [w for w in batch_vocab if w not in cache]
        if new:
            self._word_terms(new)
        f_rows: list[int] = []
        f_cols: list[int] = []
        f_vals: list[float] = []
        for j, w in enumerate(batch_vocab):
            for sid, weight in cache[w]:
                f_rows.append(j)
                f_cols.append(sid)
                f_vals.append(weight)
        w_mat = sp.csr_matrix(
            (np.ones(len(indices), dtype=np.float32), indices.astype(np.int32).ravel(), rows.indptr),
            shape=(len(texts), len(batch_vocab)),
        )
        f_mat = sp.csr_matrix((f_vals, (f_rows, f_cols)), shape=(len(batch_vocab), len(self._vocab)), dtype=np.float32)
        x = (w_mat @ f_mat).tocsr()
        np.minimum(x.data, 1.0, out=x.data)  # a stem said twice is still said once
        filler = textnorm.FILLER_WORDS
        unknown = np.fromiter((not cache[w] and w not in filler for w in batch_vocab), dtype=np.float32,
                              count=len(batch_vocab))
        weight = x @ self._idf_item + (w_mat @ unknown) * (self._idf_unknown * self.params.unknown_share)
        return x, n_terms, np.asarray(weight, dtype=np.float64)

    def _said(self, texts: Sequence[str]) -> tuple[_Rows, list[str], np.ndarray]:
        """Each text's content words (stop words and single letters left out) as a row of word ids
        into the returned list: its distinct words in the order it first says them, then the
        adjacent pairs that join into an epic word ("dark mode" -> "darkmode") it does not say as
        one; and its count of content words.

        The order matters: a dict's, not a set's (a set's order follows the process's string hash
        seed), because the order words are summed in moves the last bit of a float32 score, which
        could tip a link sitting on a threshold one way in one run and the other way in the next.
        Built with numpy over the whole batch rather than a dict per text: the per-token Python of
        that was most of tokenising (0.4 s of a first link of 100,000 items)."""
        flat = textnorm.batch_words(texts)
        # each token's first position in `flat` (a dict keeps its first); words numbered in that order
        first: dict[str, int] = {}
        pos = np.fromiter(map(first.setdefault, flat, count()), dtype=np.int64, count=len(flat))
        words = list(first)
        word_at = np.zeros(len(flat), dtype=np.int64)
        word_at[np.fromiter(first.values(), dtype=np.int64, count=len(words))] = np.arange(len(words))
        stop, heads, tails = textnorm.STOP_WORDS, self._join_heads, self._join_tails
        kind = np.fromiter(((w not in stop and len(w) > 1) + 2 * (w in heads) + 4 * (w in tails) for w in words),
                           dtype=np.int8, count=len(words))
        tok = word_at[pos]
        brk = first.get(textnorm.TEXT_BREAK)  # (not a content word: left out below)
        row = np.cumsum(tok == word_at[brk]) if brk is not None else np.zeros(len(tok), dtype=np.int64)
        content = (kind[tok] & 1).astype(bool)
        tok, row = tok[content], row[content]
        n_terms = np.bincount(row, minlength=len(texts)).astype(np.float64)
        # adjacent content words of one text that may join: only those pairs are spelled out
        maybe = np.flatnonzero((row[1:] == row[:-1]) & (kind[tok[:-1]] & 2).astype(bool) & (kind[tok[1:]] & 4).astype(bool))
        joins, extra = self._joins, dict[str, int]()  # extra: joins no text of the batch says as one word
        j_rows: list[int] = []
        j_ids: list[int] = []
        for k in maybe.tolist():
            joined = words[tok[k]] + words[tok[k + 1]]
            if joined in joins:
                at = first.get(joined)
                word_id = int(word_at[at]) if at is not None else extra.setdefault(joined, len(words))
                if word_id == len(words):
                    words.append(joined)
                j_rows.append(int(row[k]))
                j_ids.append(word_id)
        rows_all = np.concatenate([row, np.asarray(j_rows, dtype=np.int64)])
        ids_all = np.concatenate([tok, np.asarray(j_ids, dtype=np.int64)])
        # each (text, word) once, at its first place (joins come after every token: later places)
        _, once = np.unique(rows_all * max(1, len(words)) + ids_all, return_index=True)
        once = once[np.lexsort((once, rows_all[once]))]
        indptr = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows_all[once], minlength=len(texts)), out=indptr[1:])
        return _Rows(ids_all[once], indptr), words, n_terms

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

    # ---------------------------------------------------------------- query
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

    # ------------------------------------------------------------- snapshot
    def snapshot(self) -> dict[str, Any]:
        """What decides any text's scores, per stem, as JSON: after a refit, :class:`UnchangedScores`
        compares it with the new model to tell which texts score exactly as before.

        A text's scores are a function of its words, what each word means (the epic stems and
        strengths of ``_word_terms``: the vocabulary, the epics' surface words, initialisms, the
        fuzzy index), which adjacent words join (``_joins``), and, per stem it means, that stem's
        column in every view (keyed by view and epic key, not by row), whether it sits in a dense
        block, and its item-side weight; plus the relative column order of its stems (the order
        floats are summed in) and the model's globals (unknown-word weight, item floor, params).
        ``stems``/``digests`` hold the per-stem part in column order."""
        if self._snapshot is None:
            digests = self._stem_digests()
            stems = [""] * len(self._vocab)
            for stem_, j in self._vocab.items():
                stems[j] = stem_
            self._snapshot = {
                "v": SNAPSHOT_VERSION,
                "globals": self._globals_digest(),
                "stems": stems,
                "digests": digests,
                "surface": sorted(self._surface),
                "acronyms": {a: [stems[j] for j, _ in terms] for a, terms in sorted(self._acronym_terms.items())},
                "joins": sorted(self._joins - self._surface),
            }
        return self._snapshot

    def _globals_digest(self) -> str:
        doc = [repr(float(self._idf_unknown)), repr(float(self._item_floor)), model_identity(self.params),
               len(self._keys) > 0]
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32]

    def _stem_digests(self) -> list[str]:
        """One digest per stem (column order): its entries in every view, by view and epic key
        (so that an epic added elsewhere, shifting rows, changes nothing), the float32 bits of each,
        its dense-block memberships and its item-side weight."""
        n_epics = len(self._keys)
        q = self._q.tocsc()
        q.sort_indices()
        labels = [f"{view}{key}" for view in "nfs" for key in self._keys]
        dense = np.zeros((2, len(self._vocab)), dtype=np.uint8)
        dense[0, self._heavy] = 1
        dense[1, self._s_heavy] = 2
        flags = (dense[0] + dense[1]).tolist()
        idf_item = self._idf_item.astype(np.float32)
        indptr, indices, data = q.indptr.tolist(), q.indices, q.data.astype(np.float32)
        out = []
        for j in range(len(self._vocab)):
            lo, hi = indptr[j], indptr[j + 1]
            h = hashlib.blake2b(digest_size=12)
            h.update("\0".join([labels[r] for r in indices[lo:hi].tolist()]).encode())
            h.update(b"\1" + data[lo:hi].tobytes() + idf_item[j:j + 1].tobytes() + bytes([flags[j]]))
            out.append(h.hexdigest())
        assert q.shape[0] == 3 * n_epics
        return out

    # ---------------------------------------------------------- fingerprint
    def _compute_fingerprint(self, profiles: Mapping[str, EpicProfile], background: Sequence[str] = ()) -> str:
        bg = hashlib.sha256("\0".join(sorted(t or "" for t in background)).encode("utf-8")).hexdigest() if background else ""
        doc = {
            "background": bg,
            **model_identity(self.params),
            "profiles": [
                [k, profiles[k].summary or "", profiles[k].description or "", sorted(profiles[k].labels or ()),
                 self._accepted(profiles[k]), self._rejected(profiles[k])]
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
