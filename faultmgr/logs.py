"""Logging set-up: one line per record, as text or as JSON objects."""

from __future__ import annotations

import json
import logging
import sys
import time


def fields(**values: object) -> dict[str, dict[str, object]]:
    """Structured data for one log record, as ``log.info(msg, ..., extra=fields(receiver=..., attempt=...))``:
    with ``log_format: json`` each becomes a key of the line's object (the text format shows the message
    only, which should already name the same things)."""
    return {"fields": values}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and extra ``fields`` if given (a field never
    replaces one of those four keys)."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            for key, value in extra.items():
                data.setdefault(key, value)
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


def setup(level: str = "info", fmt: str = "text") -> None:
    """Log to stderr, one line per record, at ``level`` and as ``text`` or ``json``; calling it again (a
    reload) replaces faultmgr's handler instead of adding a second one."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_faultmgr", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._faultmgr = True  # type: ignore[attr-defined]
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
