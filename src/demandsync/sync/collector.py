"""CPython's cycle collector paused for a stage that allocates many objects and makes no cycles.

A pull (~10 container objects a row) and the link stage (an ``ItemToLink``, a ``Link`` and a few
tuples per item, lists of 10,000 of them alive per batch) set off the collector every few hundred
objects; its full collections re-scan everything alive (the model, the batch) and free nothing:
these objects hold no cycles, so reference counting frees them anyway. The few cycles a stage does
make (a transaction, a thread pool) wait for the next collection after it.
Measured: ~10 % of a pull's CPU (bench/pull.py); 0.4-0.5 s of a first link of 100,000 items
(bench/relink.py: 1,100 collections, 9 of them full).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """The collector off inside the block, back to how it was after (nested blocks are fine)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
