"""Loading the shipped presets and recognising an export from its header.

A preset is one TOML file in ``mappings/presets/``; its file stem is its name.
A plugin source ships its own presets (a file or a folder of them) and names
the location in ``Source.presets``; the config loader registers it here with
:func:`add_preset_location`, so its preset loads exactly like ours (a name
that clashes with a shipped preset is an error, not a silent override).
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
from importlib.resources.abc import Traversable
from pathlib import Path

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


#: Preset files or folders that plugins registered (see :func:`add_preset_location`).
_PLUGIN_LOCATIONS: list[Traversable] = []


def add_preset_location(location: Traversable | Path | str) -> None:
    """Make the presets in ``location`` (one ``.toml`` file, or a folder of them) loadable.
    Idempotent; raises :class:`PresetError` when it does not exist."""
    where = Path(location) if isinstance(location, str) else location
    if not (where.is_dir() or (where.is_file() and where.name.endswith(".toml"))):
        raise PresetError(f"preset location {location} is neither a .toml file nor a folder")
    if str(where) not in {str(w) for w in _PLUGIN_LOCATIONS}:
        _PLUGIN_LOCATIONS.append(where)
        all_presets.cache_clear()


def _files(location: Traversable) -> list[Traversable]:
    entries = [location] if location.is_file() else sorted(location.iterdir(), key=lambda e: e.name)
    return [e for e in entries if e.name.endswith(".toml")]


def _read(entry: Traversable) -> tuple[str, Preset]:
    stem = entry.name[: -len(".toml")]
    try:
        preset = Preset.model_validate(tomllib.loads(entry.read_text("utf-8")))
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise PresetError(f"preset file {entry.name} is invalid: {exc}") from exc
    if preset.preset != stem:
        raise PresetError(f"preset file {entry.name} says preset = {preset.preset!r}; it must be {stem!r}")
    return stem, preset


@cache
def all_presets() -> dict[str, Preset]:
    """Every shipped and plugin-registered preset by name (read once per process)."""
    found: dict[str, Preset] = {}
    for entry in _files(resources.files("demandsync.mappings") / "presets"):
        stem, preset = _read(entry)
        found[stem] = preset
    for location in _PLUGIN_LOCATIONS:
        for entry in _files(location):
            stem, preset = _read(entry)
            if stem in found:
                raise PresetError(f"preset {stem!r} in {location} clashes with a preset of the same name; "
                                  "rename the plugin's preset file and its preset = key")
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
