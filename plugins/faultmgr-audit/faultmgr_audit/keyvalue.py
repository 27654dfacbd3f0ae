"""``key=value`` tokens as the Linux audit and DSI formats write them, and hex-encoded audit strings."""

from __future__ import annotations

import re

# A value is "double quoted" (no escapes in audit; DSI allows \" and \\), 'single quoted' (the nested msg=
# of user-space audit records) or a bare token; one group each, so no quote needs stripping afterwards.
# The key allows '-' for fields such as old-auid.
_PAIR = re.compile(r"""([A-Za-z_][\w-]*)=(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([^\s"']*))""")
_HEX = re.compile(r"(?:[0-9A-F]{2})+")
_ESCAPE = re.compile(r"\\(.)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def parse_pairs(text: str, escapes: bool = False) -> dict[str, str]:
    """``a=1 b="two words" c='x=1 y=2'`` -> ``{"a": "1", "b": "two words", "c": "x=1 y=2"}``.

    Quotes are removed; a single-quoted value keeps its inner text verbatim (callers parse it again).
    The first occurrence of a key wins, so a value cannot override a field written before it.
    With ``escapes`` (the DSI format), ``\\"`` and ``\\\\`` inside double quotes are unescaped.
    """
    pairs = _PAIR.findall(text)
    # Built from the end so that the first occurrence of a key is the one that stays.
    fields = {key: dq or sq or bare for key, dq, sq, bare in reversed(pairs)}
    if escapes and "\\" in text:
        for key, dq, _, _ in pairs:
            if "\\" in dq and fields[key] == dq:
                fields[key] = _ESCAPE.sub(r"\1", dq)
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
    return _CONTROL.sub("\ufffd", text)
