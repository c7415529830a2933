"""Logging for people and for log shippers, with secrets scrubbed on the way out.

Human lines by default; ``--log-json`` gives one JSON object per line. Every
line of a run carries its ``run_id``. A filter replaces every configured secret
value with ``***`` in case one ever slips into a message (it should not).
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

run_id_var: contextvars.ContextVar[int | None] = contextvars.ContextVar("run_id", default=None)


class _RunContext(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        record.run_id = run_id_var.get()
        if self.secrets:
            message = record.getMessage()
            for secret in self.secrets:
                message = message.replace(secret, "***")
            record.msg, record.args = message, None
        return True


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "run_id": getattr(record, "run_id", None),
            "msg": record.getMessage(),
        }
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


def setup_logging(
    *, json_lines: bool = False, verbose: bool = False, quiet: bool = False, secrets: Iterable[str] = ()
) -> None:
    """Configure the root logger once per process; logs go to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RunContext(secrets))
    if json_lines:
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s run=%(run_id)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    # httpx logs full request URLs at INFO; ours are redacted by the HTTP layer.
    for noisy in ("httpx", "httpcore", "alembic", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
