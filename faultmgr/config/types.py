"""Value types used in rule files: durations, compiled regexes, protected secret files."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
DURATION_PATTERN = r"^\s*(\d+(\.\d+)?(ms|s|m|h|d)\s*)+$"


def parse_duration(value: Any) -> float:
    """``"500ms"``, ``"3s"``, ``"5m"``, ``"1h30m"`` or a number of seconds -> seconds as a float."""
    if isinstance(value, bool):
        raise ValueError("a duration must be a number of seconds or a string such as 500ms, 3s, 5m")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if not isinstance(value, str):
        raise ValueError("a duration must be a number of seconds or a string such as 500ms, 3s, 5m")
    text = value.replace(" ", "")
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not text or pos != len(text):
        raise ValueError(f"invalid duration {value!r}: use a number and a unit (ms, s, m, h, d), e.g. 500ms, 3s, 5m")
    return total


def format_duration(seconds: float) -> str:
    """Seconds -> the shortest rule-file spelling (``0.5`` -> ``500ms``)."""
    if seconds and seconds < 1:
        return f"{seconds * 1000:g}ms"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": DURATION_PATTERN},
            ],
            "description": "duration: seconds, or a number with a unit (ms, s, m, h, d), e.g. 500ms, 3s, 5m",
        }
    ),
]


def compile_regex(value: Any) -> re.Pattern[str]:
    if isinstance(value, re.Pattern):
        return value
    if not isinstance(value, str):
        raise ValueError("a regular expression must be a string")
    try:
        return re.compile(value)
    except re.error as exc:
        raise ValueError(f"regular expression {value!r} does not compile: {exc}") from None


Regex = Annotated[
    re.Pattern[str],
    BeforeValidator(compile_regex),
    PlainSerializer(lambda p: p.pattern, return_type=str),
    WithJsonSchema({"type": "string", "format": "regex"}),
]


def check_private_file(path: Path, what: str = "file") -> None:
    """Refuse a secret (key, credentials, token) file that others can read or write, or its group can write.

    Raises ``ValueError`` with a message that says how to fix it.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ValueError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise ValueError(f"{what} {path} cannot be read: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(f"{what} {path} is not a regular file")
    # Group read stays allowed (0640 root:faultmgr is how a daemon that is not root reads its keys); group
    # write does not: a group member could swap the heartbeat key or the API tokens.
    if info.st_mode & (stat.S_IROTH | stat.S_IWOTH | stat.S_IWGRP):
        who = "others" if info.st_mode & (stat.S_IROTH | stat.S_IWOTH) else "its group"
        raise ValueError(
            f"{what} {path} is readable or writable by {who} (mode {stat.S_IMODE(info.st_mode):04o}); "
            f"run: chmod 600 {path}"
        )
    if not os.access(path, os.R_OK):
        raise ValueError(f"{what} {path} is not readable by this user")


SecretFile = Annotated[
    Path,
    WithJsonSchema({"type": "string", "description": "path to a file that only its owner may write and others may "
                                                 "not read (mode 0600, or 0640 for a group the daemon is in)"}),
]
