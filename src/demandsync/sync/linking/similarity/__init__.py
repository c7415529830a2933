"""Text similarity between feedback items and epics, calibrated to 0..1.

Why this shape
--------------
An epic is usually known by a few words ("Offline listening"); feedback is a
sentence or a paragraph that mentions it in passing ("cant even listen to
songs offline unless I get premium"). So the question is not "are these two
texts alike?" (cosine of two documents, which punishes the long review) but
"how much of what names the epic does this item say?". The raw similarity is
a **coverage**: the share of the epic profile's term weight that the item
contains, in ``[0, 1]``; a logistic calibration turns it into a score.

What was measured and dropped (issue 18: pseudo-relevance feedback, term frequency,
length forms, sentence features, more synonyms, an embedding model, ...), each with its
is22-dev figure, is in ``docs/linking.md``; so are the rules a change to linking is judged by.

Where each part lives
---------------------
:class:`SimilarityModel` (``model``) is assembled from one mixin per concern, each in its own
module whose docstring says why its part has its shape:

* ``params``: thresholds, calibration constants, :class:`SimilarityParams`, ``MODEL_VERSION``
  and ``model_identity``;
* ``base``: the model's state, :class:`EpicProfile` and the fingerprint;
* ``vocabulary``: what each word means (stems, initialisms, compounds, joins, lexicon synonyms,
  the fuzzy 3-gram index) and encoding texts;
* ``learning``: which words of a PM's accepts and rejects count;
* ``profile``: ``fit``, the epics' profile matrix (IDF, fields, generic words, two views);
* ``scoring``: epic and item coverage, explaining away, the calibrations;
* ``ranking``: ``score`` and ``rank_items`` (top-k, which texts can reach the minimum);
* ``evidence``: the words that carried a score, for ``suggest`` and ``explain``;
* ``snapshot`` and ``unchanged``: the per-stem snapshot and :class:`UnchangedScores`, which texts a
  refit scores as before;
* ``terms``: :func:`term_vectors`, items compared with each other (themes).

Every name other modules import from here is re-exported below.
"""

from __future__ import annotations

from demandsync.sync.linking.similarity.base import EpicProfile
from demandsync.sync.linking.similarity.evidence import Evidence
from demandsync.sync.linking.similarity.model import SimilarityModel
from demandsync.sync.linking.similarity.params import (
    AUTO_ACCEPT,
    CAL_BIAS,
    CAL_LENGTH,
    CAL_RAW,
    CAL_SHORT,
    FUZZY_MIN_DICE,
    FUZZY_MIN_LEN,
    GENERIC_SHARE,
    ITEM_FLOOR,
    LEXICON_STRENGTH,
    MAX_WORD_LEN,
    MODEL_VERSION,
    SHORT_MAX,
    SNAPSHOT_VERSION,
    SUGGEST,
    UNKNOWN_SHARE,
    SimilarityParams,
    model_identity,
)
from demandsync.sync.linking.similarity.ranking import Candidate
from demandsync.sync.linking.similarity.scoring import DENSE_MIN_EPICS, PairFeatures
from demandsync.sync.linking.similarity.terms import TermVectors, term_vectors
from demandsync.sync.linking.similarity.unchanged import UnchangedScores
from demandsync.sync.linking.similarity.vocabulary import compound_splits

__all__ = [
    "AUTO_ACCEPT", "CAL_BIAS", "CAL_LENGTH", "CAL_RAW", "CAL_SHORT", "DENSE_MIN_EPICS", "FUZZY_MIN_DICE",
    "FUZZY_MIN_LEN", "GENERIC_SHARE", "ITEM_FLOOR", "LEXICON_STRENGTH", "MAX_WORD_LEN", "MODEL_VERSION", "SHORT_MAX",
    "SNAPSHOT_VERSION", "SUGGEST", "UNKNOWN_SHARE", "Candidate", "EpicProfile", "Evidence",
    "PairFeatures", "SimilarityModel", "SimilarityParams", "TermVectors", "UnchangedScores",
    "compound_splits", "model_identity", "term_vectors",
]
