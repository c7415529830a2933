"""Loading the shipped presets and recognising an export from its header.

A preset is one TOML file in ``mappings/presets/``; its file stem is its name.
Detection looks at the first rows of a file (enough for the deepest header we
know, Qualtrics' three rows) and picks the most specific preset whose
``[detect]`` rules all hold; ``generic`` has none and is never detected.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

from pydantic import ValidationError

from demandsync.errors import ConfigError
from demandsync.mappings.model import HeaderStyle, Preset

GENERIC = "generic"
#: Rows detection needs to see.
DETECT_ROWS = 3


class PresetError(ConfigError, LookupError):
    """An unknown preset name, or a preset file that does not validate."""


@dataclass(frozen=True, slots=True)
class Detected:
    preset: str
    header_rows: int
    header: HeaderStyle
    name_row: int


@cache
def all_presets() -> dict[str, Preset]:
    """Every shipped preset by name (read once per process)."""
    found: dict[str, Preset] = {}
    folder = resources.files("demandsync.mappings") / "presets"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        stem = entry.name[: -len(".toml")]
        try:
            preset = Preset.model_validate(tomllib.loads(entry.read_text("utf-8")))
        except (tomllib.TOMLDecodeError, ValidationError) as exc:
            raise PresetError(f"preset file {entry.name} is invalid: {exc}") from exc
        if preset.preset != stem:
            raise PresetError(f"preset file {entry.name} says preset = {preset.preset!r}; it must be {stem!r}")
        found[stem] = preset
    return found


def load_preset(name: str) -> Preset:
    """The preset called ``name``; the error lists the ones that exist."""
    presets = all_presets()
    if name not in presets:
        raise PresetError(f"unknown preset {name!r}; known presets: {', '.join(sorted(presets))}")
    return presets[name]


def detect(rows: Sequence[Sequence[str]]) -> Detected | None:
    """The preset whose ``[detect]`` rules match these first rows, if any.

    Ties between equally specific presets go to the first name alphabetically,
    so the outcome never depends on file-system order.
    """
    if not rows:
        return None
    first = [_clean(c) for c in rows[0]]
    names = set(first)
    best: tuple[int, str] | None = None
    for name, preset in sorted(all_presets().items()):
        rule = preset.detect
        if rule is None or rule.conditions() == 0:
            continue
        if not all(r in names for r in rule.required):
            continue
        if not all(any(re.search(p, c) for c in first) for p in rule.patterns):
            continue
        if rule.first_column and not (first and re.search(rule.first_column, first[0])):
            continue
        if not all(
            len(rows) >= n and any(re.search(p, _clean(c)) for c in rows[n - 1]) for n, p in rule.rows.items()
        ):
            continue
        score = rule.score()
        if best is None or score > best[0]:
            best = (score, name)
    if best is None:
        return None
    rule = all_presets()[best[1]].detect
    assert rule is not None
    return Detected(best[1], rule.header_rows, rule.header, rule.name_row)


def _clean(cell: str) -> str:
    return cell.strip().lstrip("\ufeff").strip()
