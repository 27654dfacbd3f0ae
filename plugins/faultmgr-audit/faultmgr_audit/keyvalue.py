"""``key=value`` tokens as the Linux audit and DSI formats write them, and hex-encoded audit strings."""

from __future__ import annotations

import re

# A value is "double quoted" (no escapes in audit; DSI allows \" and \\), 'single quoted' (the nested msg=
# of user-space audit records) or a bare token. The key allows '-' for fields such as old-auid.
_PAIR = re.compile(r"""([A-Za-z_][\w-]*)=("(?:[^"\\]|\\.)*"|'[^']*'|[^\s]*)""")
_HEX = re.compile(r"(?:[0-9A-F]{2})+")
_ESCAPE = re.compile(r"\\(.)")


def parse_pairs(text: str, escapes: bool = False) -> dict[str, str]:
    """``a=1 b="two words" c='x=1 y=2'`` -> ``{"a": "1", "b": "two words", "c": "x=1 y=2"}``.

    Quotes are removed; a single-quoted value keeps its inner text verbatim (callers parse it again).
    The first occurrence of a key wins, so a value cannot override a field written before it.
    With ``escapes`` (the DSI format), ``\\"`` and ``\\\\`` inside double quotes are unescaped.
    """
    fields: dict[str, str] = {}
    for key, value in _PAIR.findall(text):
        if key in fields:
            continue
        if value[:1] == '"' and value[-1:] == '"' and len(value) >= 2:
            value = value[1:-1]
            if escapes and "\\" in value:
                value = _ESCAPE.sub(r"\1", value)
        elif value[:1] == "'" and value[-1:] == "'" and len(value) >= 2:
            value = value[1:-1]
        fields[key] = value
    return fields


def decode_hex(value: str) -> str | None:
    """The text of an audit hex-encoded string (uppercase hex digits, even length), or ``None``.

    The kernel hex-encodes untrusted strings that contain spaces, quotes or control characters; NUL
    separators (``proctitle``'s argv) become spaces, other control characters are kept out by replacing
    them with U+FFFD so a decoded value cannot forge a line break in a message.
    """
    if len(value) < 2 or not _HEX.fullmatch(value):
        return None
    raw = bytes.fromhex(value).replace(b"\0", b" ").rstrip(b" ")
    text = raw.decode("utf-8", "replace")
    if any(ch < " " or ch == "\x7f" for ch in text):
        text = "".join("\ufffd" if (ch < " " or ch == "\x7f") else ch for ch in text)
    return text
