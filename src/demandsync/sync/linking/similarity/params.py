"""The model's knobs and constants, and ``model_identity``: what, besides the epics and the
decisions, decides every score.

Every number here was measured (its comment says on what); the calibrations are explained in
``scoring``'s docstring ("Calibration"). ``MODEL_VERSION`` is bumped whenever tokenising or
scoring changes meaning: it is part of ``model_identity`` and so of every fingerprint, so that
upgrading demandsync relinks stored items when scores change.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from demandsync.sync.linking import textnorm

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
# calibration, longer ones by the long-text one (see ``scoring``, "Calibration").
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

# Bumped whenever tokenising or scoring changes meaning, so fingerprints do.
MODEL_VERSION = "11"

# Bumped whenever SimilarityModel.snapshot() changes what it holds (an old one is then not used).
SNAPSHOT_VERSION = 1


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
