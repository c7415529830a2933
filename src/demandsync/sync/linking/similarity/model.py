"""The similarity model, assembled from one mixin per concern (the package docstring lists them)."""

from __future__ import annotations

from demandsync.sync.linking.similarity.evidence import EvidenceMixin
from demandsync.sync.linking.similarity.profile import ProfileMixin
from demandsync.sync.linking.similarity.ranking import RankingMixin
from demandsync.sync.linking.similarity.snapshot import SnapshotMixin


class SimilarityModel(EvidenceMixin, RankingMixin, SnapshotMixin, ProfileMixin):
    """Scores feedback texts against a fitted set of epic profiles.

    Pure: no store, no I/O. ``fit`` when the profiles change (``fingerprint``
    tells), then ``score`` any number of texts; scores do not depend on which
    other texts are in the batch.
    """
