"""Options every command that reads a config shares (typer only, so `--help` stays fast)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ConfigOpt = Annotated[Path | None, typer.Option(
    "--config", "-c", help="Config file (default: $DEMANDSYNC_CONFIG, else ./demandsync.toml).")]
