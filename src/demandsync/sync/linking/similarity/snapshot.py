"""A fitted model's per-stem snapshot: what decides any text's scores, as JSON.

After epic texts or decisions change, the engine refits the model and relinks only the texts
that may score differently: :class:`~demandsync.sync.linking.similarity.unchanged.UnchangedScores`
compares the last model's snapshot (stored in ``meta["linker_scores"]``) with the new model.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from demandsync.sync.linking.similarity.base import ModelBase
from demandsync.sync.linking.similarity.params import SNAPSHOT_VERSION, model_identity


class SnapshotMixin(ModelBase):
    """``snapshot``: per stem, a digest of everything about it that a score reads."""

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
