"""From words to epic stems: what each word an item says means, and encoding texts.

* Terms are stems of content words (``textnorm``): "listening" meets
  "listen", function words never count.
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

Speed: no Python runs per token (tokenising is C loops and numpy over a
batch; Python touches each distinct word of it: ``_said``); what a word means
is looked up once per distinct word per model (``_word_terms``, cached), and
the lift of a batch to epic stems is one sparse product (``_encode``).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import count
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from demandsync.sync.linking import textnorm
from demandsync.sync.linking.similarity.base import ModelBase
from demandsync.sync.linking.similarity.params import FUZZY_MIN_DICE, FUZZY_MIN_LEN, MAX_WORD_LEN


def compound_splits(word: str, max_part: int) -> range:
    """Where ``word`` may split into two known words of at most ``max_part``
    letters each (and at least 3): empty for words over ``MAX_WORD_LEN``, so
    the work per word is bounded, whatever its length."""
    n = len(word)
    if n > MAX_WORD_LEN or n > 2 * max_part:
        return range(0)
    return range(max(3, n - max_part), min(n - 2, max_part + 1))


NUMBER_WORDS = {"two": "2", "three": "3", "four": "4"}
_CONJUNCTIONS = frozenset({"and", "or"})


def acronyms_of(summary: str) -> dict[str, list[str]]:
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
        letters, digits = first[0], NUMBER_WORDS.get(first, first[0])
        for j in range(i + 1, min(len(ws), i + 5)):  # the run ws[i..j], 2 to 5 words
            w = ws[j]
            if not alpha[j] or w in _CONJUNCTIONS:
                break
            letters += w[0]
            digits += NUMBER_WORDS.get(w, w[0])
            if len(letters) < 3:
                continue
            run = [t for t in stems[i:j + 1] if t is not None]
            for initials in (letters,) if letters == digits else (letters, digits):
                known = out.setdefault(initials, [])
                known.extend(t for t in run if t not in known)
    return out

def join_parts(joins: frozenset[str]) -> tuple[frozenset[str], frozenset[str]]:
    """(heads, tails): the words that can start or end a join (each of ``joins`` split in two words
    of at least two letters), so ``_said`` spells out only the adjacent pairs that may join."""
    heads = frozenset(j[:i] for j in joins for i in range(2, len(j) - 1))
    tails = frozenset(j[i:] for j in joins for i in range(2, len(j) - 1))
    return heads, tails

class _Rows(NamedTuple):
    """Rows of word ids as a CSR matrix holds them: row ``i`` is ``indices[indptr[i]:indptr[i + 1]]``."""

    indices: np.ndarray
    indptr: np.ndarray


def _trigrams(word: str) -> set[str]:
    return set(textnorm.char_ngrams(word, (3,)))


class VocabularyMixin(ModelBase):
    """The fuzzy 3-gram index of the epic stems, what each word means, and encoding texts."""

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
