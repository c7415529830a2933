"""How a run tells whoever watches it how far it got, without knowing who watches.

The engine calls :meth:`Progress.update` with a stage name (``"source exit-survey"``,
``"links"``, ``"writes"``), how much of it is done and, when known, the total. The
CLI turns that into live bars on a terminal or a log line every few seconds
elsewhere (``cli/progress.py``); tests and library callers get :data:`NO_PROGRESS`.
The engine never imports rich: this protocol is the whole contract.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Receives progress reports. Calls come from the run's thread; cheap calls only."""

    def update(self, stage: str, done: int, total: int | None = None) -> None:
        """``stage`` has reached ``done`` of ``total`` (``None``: total not known yet)."""


class _NoProgress:
    def update(self, stage: str, done: int, total: int | None = None) -> None:
        return None


NO_PROGRESS: Progress = _NoProgress()
