"""Every failure demandsync raises on purpose, in one hierarchy, and the one place
that turns a failure into an exit code.

    DemandsyncError
     ├── ConfigError            exit 2: the config (or the command line) cannot work;
     │    │                     nothing was touched. ``problems`` name the key and the fix.
     │    ├── FieldLookupError  a ``[jira.fields]`` name matches no field, or several
     │    │    ├── UnknownFieldError
     │    │    └── AmbiguousFieldError
     │    ├── TargetError       a target field exists but cannot take the figure
     │    ├── MappingError      a source's column map cannot work at all
     │    └── PresetError       an unknown preset, or a preset file that does not validate
     ├── OutsideError           exit 1: something outside failed: a server, a file, the store
     │    ├── APIError          the shared HTTP layer (``connectors.http.errors``)
     │    │    ├── RetriableAPIError, FatalAPIError, RetriesExhausted
     │    ├── WriteRejected     the tracker refused one epic's write, per field
     │    └── NoFilesMatched    a file source's glob matched nothing
     └── LockHeld               exit 75 (EX_TEMPFAIL): another run holds the lock

Anything else that escapes a command is a bug: it exits 1 and is logged with
its traceback (the log formatter scrubs secrets from tracebacks too).

The subclasses live beside the code that raises them; only the three roots and
:func:`exit_code` live here, so every layer can import this module and nothing
else to speak the same language.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_LOCKED = 75


class DemandsyncError(Exception):
    """Base of every failure demandsync raises on purpose."""

    exit_code = EXIT_FAILED


class ConfigError(DemandsyncError):
    """The config cannot be used. ``problems`` are ``(key, message)`` pairs.

    A single message can be given instead: ``ConfigError("jira.url: ...")``.
    """

    exit_code = EXIT_CONFIG

    def __init__(self, problems: Iterable[tuple[str, str]] | str, path: Path | None = None) -> None:
        if isinstance(problems, str):
            self.problems: list[tuple[str, str]] = []
            self.path = path
            super().__init__(problems)
            return
        self.problems = list(problems)
        self.path = path
        where = f" in {path}" if path else ""
        lines = [f"{key}: {msg}" for key, msg in self.problems]
        super().__init__(f"config error{where}:\n  " + "\n  ".join(lines))


class OutsideError(DemandsyncError):
    """Something outside demandsync failed: a tracker or source server, a file, the store."""

    exit_code = EXIT_FAILED


class LockHeld(DemandsyncError):
    """Another run holds the lock. The message names the holder."""

    exit_code = EXIT_LOCKED


def exit_code(exc: BaseException) -> int:
    """The process exit code for ``exc``: the only place this is decided.

    >>> exit_code(ConfigError("x")), exit_code(LockHeld("y")), exit_code(KeyError("z"))
    (2, 75, 1)
    """
    if isinstance(exc, DemandsyncError):
        return exc.exit_code
    return EXIT_FAILED
