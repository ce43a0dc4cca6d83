"""Structured JSON logs on stdout: one object per line, for CloudWatch and `jq`.

Whatever a caller passes in ``extra=`` becomes a field. Values under secret-looking keys are
replaced, and URLs have their query strings and credentials removed, because a FRED URL carries
its API key in the query and a database URL may carry a password.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

# Attributes every LogRecord has: not copied as "extra" fields.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}
_SECRET_KEY = re.compile(r"pass(word)?|secret|token|api[_-]?key|authorization|credential", re.I)
# scheme://user:password@host → scheme://***@host ; ?query → ?***
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]*@", re.I)
_URL_QUERY = re.compile(r"(?P<url>[a-z][a-z0-9+.-]*://[^\s?#]+)\?[^\s#]*", re.I)
REDACTED = "***"


def redact(text: str) -> str:
    """Remove credentials and query strings from any URL inside ``text``."""
    text = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{REDACTED}@", text)
    return _URL_QUERY.sub(lambda m: f"{m['url']}?{REDACTED}", text)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: time, level, logger, message, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                entry[key] = _safe(key, value)
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


def _safe(key: str, value: Any) -> Any:
    if _SECRET_KEY.search(key):
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    return value


def configure_json_logging(level: str | int = "INFO", stream: TextIO | None = None) -> None:
    """Route every logger through one JSON handler on ``stream`` (stdout). Idempotent."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_insight_json", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter())
    handler._insight_json = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    # Vendor loggers log request details at DEBUG/INFO; they add noise, not insight.
    for noisy in ("botocore", "aiobotocore", "aioboto3", "urllib3", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
