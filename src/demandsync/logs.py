"""Logging for people and for log shippers, with secrets scrubbed on the way out.

Human lines by default; ``--log-json`` gives one JSON object per line. Every
line of a run carries its ``run_id``. As a last line of defence, every
configured secret is replaced by ``***`` in the final formatted line —
message, arguments and traceback alike, in its raw, URL-encoded and base64
``Basic`` forms — by the same :class:`~demandsync.connectors.http.redaction.Scrubber`
that guards terminal errors, ``--json`` reports and the store.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

from demandsync.connectors.http.redaction import Scrubber, use_scrubber

run_id_var: contextvars.ContextVar[int | None] = contextvars.ContextVar("run_id", default=None)

#: Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "run_id"}
_json_mode = False

HUMAN_FORMAT = "%(asctime)s %(levelname)-7s run=%(run_id)s %(name)s: %(message)s"


class _RunId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.run_id = run_id_var.get()
        return True


class ScrubbingFormatter(logging.Formatter):
    """Formats a record, then blanks every known secret in the result."""

    def __init__(self, fmt: str | None = None, *, secrets: Iterable[str] | Scrubber = (),
                 json_lines: bool = False) -> None:
        super().__init__(fmt)
        self.scrubber = secrets if isinstance(secrets, Scrubber) else Scrubber(secrets)
        self.json_lines = json_lines

    def format(self, record: logging.LogRecord) -> str:
        if self.json_lines:
            # Scrub the message before JSON escapes it (a secret holding '"' or '\\' would
            # otherwise no longer match), then the whole line for anything else.
            return self.scrubber.text(self._json(record))
        return self.scrubber.text(super().format(record))

    def _json(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "run_id": getattr(record, "run_id", None),
            "msg": self.scrubber.text(record.getMessage()),
        }
        # Structured fields given with ``extra=`` (source, pulled, new, epic, status, …), so a
        # log shipper filters on fields instead of parsing prose.
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key not in doc:
                doc[key] = value
        if record.exc_info:
            doc["exc"] = self.scrubber.text(self.formatException(record.exc_info))
        return json.dumps(doc, default=str)


def setup_logging(
    *, json_lines: bool = False, verbose: bool = False, quiet: bool = False,
    secrets: Iterable[str] | Scrubber = (),
) -> None:
    """Configure the root logger once per process; logs go to stderr."""
    """Configure the root logger once per process; logs go to stderr. ``secrets`` (a
    :class:`Scrubber`, or plain values) also become the process's active scrubber."""
    global _json_mode
    _json_mode = json_lines
    if not isinstance(secrets, Scrubber):
        secrets = Scrubber(secrets)
    use_scrubber(secrets)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RunId())
    handler.setFormatter(ScrubbingFormatter(None if json_lines else HUMAN_FORMAT, secrets=secrets,
                                            json_lines=json_lines))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    # httpx logs full request URLs at INFO; ours are redacted by the HTTP layer.
    for noisy in ("httpx", "httpcore", "alembic", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def json_logging() -> bool:
    """True after ``setup_logging(json_lines=True)``: stdout and stderr must carry JSON lines only."""
    return _json_mode
