"""Keep CPython's cycle collector off the objects a one-shot command never frees.

The engine's imports (SQLAlchemy, pydantic, numpy, scipy, httpx) leave ~95,000
container objects that live until the process ends. CPython's cyclic garbage
collector re-scans every one of them at each full (oldest-generation) collection
during the run, and once more when the interpreter exits, and finds nothing to free.
``gc.freeze()`` (https://docs.python.org/3/library/gc.html#gc.freeze) moves the
objects alive at that moment into a permanent generation the collector ignores;
objects made later are collected as before, so the run's own garbage still goes.

Measured on a re-run with nothing new (bench/run.py, 2,000 epics, 10,000 items):
full collections during the run 0.18-0.23 s -> 0.02-0.03 s; interpreter exit after
importing the engine 0.2-0.5 s -> 0.02 s. ``bench/run.py``'s child calls the same
two functions, so the benchmark measures what ``demandsync run`` does.
"""

from __future__ import annotations

import gc

#: Only a process of its own freezes: ``main()`` (the ``demandsync`` executable) and the benchmark's
#: child switch this on. A command invoked in-process (tests through typer's CliRunner, the demo's
#: repeated runs) leaves the caller's collector alone: freezing there would keep every cycle alive
#: at that moment for the rest of the caller's life.
enabled = False


def enable() -> None:
    global enabled
    enabled = True


def after_imports() -> None:
    """Call once the command has imported what it needs: those objects live as long as the process."""
    if enabled:
        gc.freeze()


def before_exit() -> None:
    """Call when a one-shot command has finished its work and its output: the interpreter's exit then
    skips re-scanning everything alive (only for processes about to end; a long-running one, like
    ``schedule`` or ``web``, would keep its uncollected cycles for good)."""
    if enabled:
        gc.freeze()
