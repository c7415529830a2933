"""``demandsync serve``: run syncs on a schedule in the foreground.

Container-friendly: one process, logs to stderr, no daemonising. The config is
re-read before every run, so a rotated token or a new source needs no restart.
SIGTERM/SIGINT stop it cleanly: between runs at once; during a run, after the
run finishes (every stage is crash-safe anyway, so a second signal exits now).
"""

from __future__ import annotations

import logging
import re
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from croniter import croniter

from demandsync.config import load_config
from demandsync.errors import ConfigError, LockHeld, exit_code
from demandsync.sync.run import RunReport, run_sync

log = logging.getLogger(__name__)

_EVERY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_every(text: str) -> float:
    """``"15m"`` -> 900.0. Units: s, m, h, d (default seconds)."""
    m = _EVERY.match(text)
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"--every {text!r}: write a positive duration like 30s, 15m, 1h or 1d")
    return float(m.group(1)) * _UNIT_SECONDS[m.group(2).lower()]


@dataclass(frozen=True, slots=True)
class Schedule:
    """Either a fixed interval or a cron expression (evaluated in UTC)."""

    every: float | None = None
    cron: str | None = None

    @classmethod
    def build(cls, every: str | None, cron: str | None) -> Schedule:
        if (every is None) == (cron is None):
            raise ValueError("give exactly one of --every (e.g. 15m) or --cron (e.g. '*/15 * * * *')")
        if cron is not None and not croniter.is_valid(cron):
            raise ValueError(f"--cron {cron!r} is not a valid cron expression (five fields, e.g. '*/15 * * * *')")
        return cls(parse_every(every) if every else None, cron)

    def seconds_until_next(self, now: datetime, last_start: datetime | None) -> float:
        if self.every is not None:
            if last_start is None:
                return 0.0
            return max(self.every - (now - last_start).total_seconds(), 0.0)
        assert self.cron is not None
        nxt: datetime = croniter(self.cron, now).get_next(datetime)
        return max((nxt - now).total_seconds(), 0.0)


class Stopper:
    """Turns SIGTERM/SIGINT into an event the loop waits on."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.running = False
        self.requested = False

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.requested and self.running:
            log.warning("second %s during a run: exiting now (the next run converges)", signal.Signals(signum).name)
            raise SystemExit(143)
        self.requested = True
        log.info("%s received: stopping%s", signal.Signals(signum).name,
                 " after the current run" if self.running else "")
        # Not ``self.event.set()`` here: a handler runs in the main thread between two bytecodes,
        # possibly while that thread holds the Event's internal lock (inside ``event.wait``), and
        # ``set()`` would then wait forever for a lock its own thread holds (``serve`` hung so under
        # load). A thread of its own takes the lock as soon as the main thread lets go of it.
        threading.Thread(target=self.event.set, name="demandsync-stop", daemon=True).start()


def serve(
    config_path: Path | None,
    schedule: Schedule,
    *,
    stopper: Stopper | None = None,
    max_runs: int | None = None,
    runner: Callable[..., RunReport] = run_sync,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    """Loop until stopped (or ``max_runs``). Returns the last run's exit code."""
    stopper = stopper or Stopper()
    last_start: datetime | None = None
    last_code, runs = 0, 0
    while not stopper.event.is_set() and (max_runs is None or runs < max_runs):
        delay = schedule.seconds_until_next(clock(), last_start)
        if delay > 0:
            log.info("next run in %.0fs", delay)
            if stopper.event.wait(delay):
                break
        last_start = clock()
        runs += 1
        stopper.running = True
        try:
            report = runner(load_config(config_path))
            last_code = report.exit_code
            log.info("run %s exited %s: %d writes applied, %d failed", report.run_id, last_code,
                     report.writes["applied"], report.writes["failed"])
        except ConfigError as exc:
            last_code = exit_code(exc)
            log.error("config error, skipping this run: %s", exc)
        except LockHeld as exc:
            last_code = exit_code(exc)
            log.warning("skipped: %s", exc)
        except Exception as exc:  # noqa: BLE001 - the service outlives one bad run
            last_code = exit_code(exc)
            log.exception("run failed: %s", type(exc).__name__)
        finally:
            stopper.running = False
    log.info("serve stopped after %d run(s)", runs)
    return last_code
