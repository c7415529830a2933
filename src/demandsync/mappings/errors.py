"""The two ways mapping goes wrong: the map itself cannot work, or one record cannot.

A problem with the *configuration* (a mapped column the export does not have, a
date that could be read two ways) is a :class:`MappingError`: raised at once, so the
admin fixes one key instead of finding every row quarantined for the same cause. A
problem with one record (a date out of range, an empty id cell) is a :class:`Skip`:
the engine quarantines that row with the message as its reason and goes on.
"""

from __future__ import annotations

from demandsync.errors import ConfigError


class MappingError(ConfigError, ValueError):
    """The mapping cannot work for this source at all; names the config key to fix."""


class Skip(Exception):
    """This row is quarantined; the message is the reason."""
