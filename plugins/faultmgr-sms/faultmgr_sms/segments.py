"""How many SMS segments a text takes, and cutting a text to a number of segments with a marker.

A segment holds 160 GSM-7 septets, or 70 UCS-2 code units when any character is outside GSM-7. A longer
message is sent as concatenated segments whose header leaves 153 septets (67 code units) each. Characters of
GSM-7's extension table (``{}[]~|^\\€`` and form feed) take two septets.
"""

from __future__ import annotations

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
#: Appended to a cut text; GSM-7 itself, so cutting never switches the text to UCS-2.
MARKER = "..."

SINGLE = {"gsm7": 160, "ucs2": 70}
PER_PART = {"gsm7": 153, "ucs2": 67}


def encoding(text: str) -> str:
    """``gsm7`` when every character is in the GSM-7 alphabet, else ``ucs2``."""
    return "gsm7" if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text) else "ucs2"


def units(text: str, enc: str) -> int:
    """Length in septets (GSM-7) or UTF-16 code units (UCS-2; a character beyond the BMP takes two)."""
    if enc == "gsm7":
        return sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
    return len(text.encode("utf-16-le")) // 2


def segments(text: str) -> int:
    """Number of segments ``text`` is sent as (0 for the empty text)."""
    enc = encoding(text)
    size = units(text, enc)
    if size <= SINGLE[enc]:
        return 1 if size else 0
    return -(-size // PER_PART[enc])


def capacity(enc: str, max_segments: int) -> int:
    """Units that fit in ``max_segments`` segments."""
    return SINGLE[enc] if max_segments == 1 else PER_PART[enc] * max_segments


def fit(text: str, max_segments: int) -> str:
    """``text`` unchanged when it fits in ``max_segments`` segments, else cut and ended with :data:`MARKER`."""
    if segments(text) <= max_segments:
        return text
    enc = encoding(text)
    room = capacity(enc, max_segments) - units(MARKER, enc)
    kept: list[str] = []
    used = 0
    for ch in text:
        size = units(ch, enc)
        if used + size > room:
            break
        kept.append(ch)
        used += size
    return "".join(kept).rstrip() + MARKER
