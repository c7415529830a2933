"""Showing a run's progress: live bars on a terminal, a log line every few seconds elsewhere.

The engine reports through :class:`demandsync.sync.progress.Progress`; this module is
the only one that knows about rich's progress display. A 30 s first run on a terminal
used to print nothing until the end; under cron the log now shows it is alive.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

from demandsync.sync.progress import NO_PROGRESS, Progress

log = logging.getLogger("demandsync.progress")


class LiveProgress:
    """One rich task per stage (``source NAME`` rows, ``epics``, ``links``, ``writes`` n/N)."""

    def __init__(self, console: Console) -> None:
        self.bars = RichProgress(TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=console, transient=False)
        self.tasks: dict[str, TaskID] = {}

    def update(self, stage: str, done: int, total: int | None = None) -> None:
        task = self.tasks.get(stage)
        if task is None:
            task = self.tasks[stage] = self.bars.add_task(stage, total=total)
        self.bars.update(task, completed=done, total=total)


class LogProgress:
    """At most one ``progress`` log line every ``every`` seconds, for the stage that moved last."""

    def __init__(self, every: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self.clock = clock
        self.last = clock()

    def update(self, stage: str, done: int, total: int | None = None) -> None:
        now = self.clock()
        if now - self.last < self.every:
            return
        self.last = now
        shown = f"{done}/{total}" if total is not None else str(done)
        log.info("progress: %s %s", stage, shown,
                 extra={"event": "progress", "stage": stage, "done": done, "total": total})


@contextmanager
def progress_for(console: Console, *, live: bool) -> Iterator[Progress]:
    """Live bars when ``live`` and ``console`` is a terminal; else log lines every 5 s."""
    if not live or not console.is_terminal:
        yield LogProgress()
        return
    shown = LiveProgress(console)
    with shown.bars:
        # Log lines go through rich's redirected stderr while the bars are live, so they print
        # above the bars instead of tearing them.
        handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)]
        before = [h.stream for h in handlers]
        for handler in handlers:  # not setStream(): it flushes the old stream, which may be closed
            handler.stream = sys.stderr
        try:
            yield shown
        finally:
            for handler, stream in zip(handlers, before, strict=True):
                handler.stream = stream


__all__ = ["NO_PROGRESS", "LiveProgress", "LogProgress", "progress_for"]
