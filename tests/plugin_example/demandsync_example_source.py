"""A third-party demandsync source, as small as one can be.

It reads feedback from a JSON Lines file (one object per line) and shows the
whole contract: a ``kind``, an ``Options`` model, ``pull`` yielding
:class:`Record` or :class:`Quarantined`, a cursor, and a default preset that
the plugin ships itself (``presets/example-jsonl.toml``, found through
``presets``), so an admin need not write a ``[sources.map]``. A package
makes it available by declaring, in its own ``pyproject.toml``::

    [project.entry-points."demandsync.connectors"]
    example = "demandsync_example_source:ExampleSource"
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from demandsync.connectors.base import Cursor, Record, Source, SourceOptions
from demandsync.domain import Quarantined


class ExampleOptions(SourceOptions):
    """``[[sources]] kind = "example"`` keys."""

    path: str


class ExampleSource(Source):
    """Every line of ``path`` after the last line read before (the cursor)."""

    kind: ClassVar[str] = "example"
    Options: ClassVar[type[SourceOptions]] = ExampleOptions
    default_preset: ClassVar[str | None] = "example-jsonl"
    presets: ClassVar[Path | None] = Path(__file__).with_name("presets")

    def pull(self, cursor: Cursor) -> Iterator[Record | Quarantined]:
        assert isinstance(self.options, ExampleOptions)
        path = self.context.base_dir / self.options.path
        done = 0 if self.context.full else int(cursor.get("lines", 0))
        lines = path.read_text("utf-8").splitlines()
        for number, line in enumerate(lines[done:], start=done + 1):
            locator = f"{self.options.path} line {number}"
            try:
                data = json.loads(line)
            except ValueError as exc:
                yield Quarantined(self.context.name, locator, f"not JSON: {exc}", line[:500])
                continue
            yield Record(data=data, locator=locator)
        self.cursor = {"lines": len(lines)}
