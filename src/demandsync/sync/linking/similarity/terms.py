"""Items as term vectors, for comparing items with each other (themes of unlinked feedback)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from demandsync.sync.linking import textnorm
from demandsync.sync.linking.similarity.profile import idf_weights


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
    idf = idf_weights(np.bincount(x.indices, minlength=len(vocab)), len(texts))
    x = (x @ sp.diags(idf.astype(np.float32))).tocsr()
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    x = sp.diags(1.0 / norms).astype(np.float32) @ x
    terms = [""] * len(vocab)
    for t, j in vocab.items():
        terms[j] = t
    return TermVectors(x.tocsr(), terms, idf)
