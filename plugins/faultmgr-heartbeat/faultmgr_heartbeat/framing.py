"""Packet framing for byte streams (serial lines), after SLIP (RFC 1055).

A frame is ``END payload END`` with ``END`` and ``ESC`` bytes escaped inside the payload. Because ``END``
never occurs inside a frame, a receiver that starts mid-frame, or sees line noise, loses at most the frame
in progress: the next ``END`` resynchronises it. The decoder does not judge what it delivers: garbage
comes out as a frame that :func:`faultmgr_heartbeat.protocol.decode` refuses and counts.
"""

from __future__ import annotations

END = 0xC0
ESC = 0xDB
ESC_END = 0xDC
ESC_ESC = 0xDD

_ESCAPES = {END: bytes((ESC, ESC_END)), ESC: bytes((ESC, ESC_ESC))}
_UNESCAPE = {ESC_END: END, ESC_ESC: ESC}


def frame(payload: bytes) -> bytes:
    """Wrap ``payload`` for the wire (a leading ``END`` flushes any noise the receiver holds)."""
    body = payload.replace(bytes((ESC,)), _ESCAPES[ESC]).replace(bytes((END,)), _ESCAPES[END])
    return bytes((END,)) + body + bytes((END,))


class FrameDecoder:
    """Turns a byte stream back into payloads.

    :param limit: the largest payload wanted. A longer one is cut to ``limit + 1`` bytes (so that the
        protocol decoder counts it as oversized) and the rest of it is discarded up to the next ``END``.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._buffer = bytearray()
        self._escaped = False
        self._overflow = False

    def feed(self, data: bytes) -> list[bytes]:
        """Consume ``data``; return the payloads it completed (possibly none)."""
        frames: list[bytes] = []
        for byte in data:
            if byte == END:
                if self._buffer:
                    frames.append(bytes(self._buffer))
                self._buffer.clear()
                self._escaped = self._overflow = False
                continue
            if self._overflow:
                continue
            if self._escaped:
                # An invalid escape keeps the raw byte: the MAC check will refuse the frame.
                byte = _UNESCAPE.get(byte, byte)
                self._escaped = False
            elif byte == ESC:
                self._escaped = True
                continue
            self._buffer.append(byte)
            if len(self._buffer) > self.limit:
                self._overflow = True
        return frames
