"""JSON text for the journal, the outbox and the key-value store: orjson where it can, the standard library
where it cannot.

The engine encodes two or three JSON documents per event (the event's labels and payload, the alert record);
with the standard library that was an eighth of the engine's time (``bench/engine.py --profile``). orjson
does the same work about ten times faster. Its output is compact, valid JSON that :func:`json.loads` reads
back, so records written before it was used and after are the same to every reader.

orjson refuses a few things the standard library accepts (integers beyond 64 bits, for one); those values
are encoded by :mod:`json` instead, so no record is lost to a detector's unusual payload.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps(value: Any) -> str:
    """``value`` as JSON text; what JSON has no type for (a datetime, a path, a set) is written as ``str()``."""
    try:
        return orjson.dumps(value, default=str, option=_OPTIONS).decode()
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value, default=str)


def loads(text: str | bytes) -> Any:
    """Parse JSON text written by :func:`dumps` (or by :func:`json.dumps`: older records)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        # NaN and Infinity are not JSON, but json.dumps writes them: records from before orjson may hold them.
        return json.loads(text)
