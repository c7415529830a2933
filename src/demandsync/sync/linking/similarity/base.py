"""What a fitted :class:`~demandsync.sync.linking.similarity.SimilarityModel` holds, the epic
profile it is fitted on, and its fingerprint.

:class:`ModelBase` declares the model's state in one place, so that each mixin (``vocabulary``,
``learning``, ``profile``, ``scoring``, ``ranking``, ``evidence``, ``snapshot``) reads the same
attributes. The fingerprint hashes what a fit was given (the profiles with the decisions that
count, the background, ``model_identity``): it changes exactly when linking results could
change, so the engine knows to relink all.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from demandsync.sync.linking.similarity.params import SimilarityParams, model_identity


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


class ModelBase:
    """The state of a similarity model: params, the fitted epics' matrices and the caches, and
    the fingerprint of what it was fitted on (see the module docstring)."""

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
        #: the words that can start a join and those that can end one: see join_parts
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
    def _accepted(self, prof: EpicProfile) -> list[str]:
        cap = self.params.accepted_cap
        texts = [t for t in (prof.accepted_texts or ()) if t and t.strip()]
        return texts[-cap:] if cap > 0 else []

    def _rejected(self, prof: EpicProfile) -> list[str]:
        cap = self.params.accepted_cap
        texts = [t for t in (prof.rejected_texts or ()) if t and t.strip()]
        return texts[-cap:] if cap > 0 and self.params.rejected_weight > 0 else []
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
