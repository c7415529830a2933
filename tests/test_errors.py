"""One exception hierarchy, one place that turns a failure into an exit code (the README's table)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import cli

import demandsync.cli.status
from demandsync.connectors.base import WriteRejected
from demandsync.connectors.files import NoFilesMatched
from demandsync.connectors.http import FatalAPIError, RetriesExhausted
from demandsync.errors import ConfigError, LockHeld, OutsideError, exit_code
from demandsync.mappings.engine import MappingError
from demandsync.mappings.presets import PresetError
from demandsync.sync.fields import AmbiguousFieldError, UnknownFieldError
from demandsync.sync.writeback import TargetError


@pytest.mark.parametrize(("exc", "code"), [
    (ConfigError("jira.url: missing"), 2),
    (MappingError("sources.x.map.text: no column"), 2),
    (PresetError("unknown preset"), 2),
    (TargetError([("jira.fields.votes", "not a number field")]), 2),
    (UnknownFieldError("no field 'X'"), 2),
    (AmbiguousFieldError("two fields 'X'"), 2),
    (OutsideError("the store is gone"), 1),
    (WriteRejected("PROD-1", [], 400), 1),
    (NoFilesMatched("exports/*.csv matched no file"), 1),
    (LockHeld("another run holds the lock"), 75),
    (KeyError("epic"), 1),  # a bug
    (httpx.ConnectError("refused"), 1),
], ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v))
def test_each_failure_has_its_exit_code(exc: BaseException, code: int) -> None:
    assert exit_code(exc) == code


def test_http_errors_are_outside_failures() -> None:
    assert issubclass(FatalAPIError, OutsideError) and issubclass(RetriesExhausted, OutsideError)


def test_a_bug_in_a_command_exits_1_with_its_traceback(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any) -> dict[str, Any]:
        raise KeyError("runs")

    monkeypatch.setattr(demandsync.cli.status, "collect_status", broken)
    code, stdout, stderr = cli("status", "--config", str(config))
    assert code == 1 and stdout == ""
    assert "demandsync.cli: unexpected failure, please report it: KeyError: 'runs'" in stderr
    assert f'File "{__file__}", line {broken.__code__.co_firstlineno + 1}, in broken' in stderr


def test_an_expected_failure_is_one_line_without_traceback(config: Path) -> None:
    code, stdout, stderr = cli("explain", "NOPE-1", "--config", str(config))
    assert code == 2 and stdout == ""
    assert stderr.startswith("error: NOPE-1 is not an epic demandsync has seen;")
    assert "Traceback" not in stderr
