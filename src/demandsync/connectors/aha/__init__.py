"""Aha!: a tracker (features or epics carry the figures) and a source (Aha! Ideas).

:mod:`.tracker` reads and writes records, :mod:`.render` writes the managed summary
as HTML, :mod:`.source` reads ideas and their votes.
"""

from demandsync.connectors.aha.source import AhaIdeasSource
from demandsync.connectors.aha.tracker import AhaTracker

__all__ = ["AhaIdeasSource", "AhaTracker"]
