"""Bytes read from a log -> complete, bounded, decoded lines.

Memory stays bounded whatever the file holds: a line longer than ``max_line_bytes`` keeps its first
``max_line_bytes`` bytes and the rest is skipped up to the next newline, never held; the line is counted as
cut. NUL bytes are removed (a crashed writer leaves runs of them after a truncation) and invalid UTF-8 is
decoded with U+FFFD. A last line without its newline is held until the newline arrives.
"""

from __future__ import annotations


class LineSplitter:
    """Splits a byte stream into lines. ``consumed`` counts the bytes of every complete line handed out,
    so the caller can persist the offset of the first byte not yet handed out."""

    def __init__(self, max_line_bytes: int = 65536) -> None:
        if max_line_bytes < 1:
            raise ValueError("max_line_bytes must be positive")
        self.max_line_bytes = max_line_bytes
        self._partial = b""
        self._partial_len = 0  # bytes of the current line seen so far, kept or skipped
        self._cut = False
        #: lines cut to max_line_bytes since the splitter was made.
        self.cut_lines = 0
        #: bytes of complete lines handed out (including newlines and skipped bytes).
        self.consumed = 0

    @property
    def pending_bytes(self) -> int:
        """Bytes of the current, unfinished line (not counted in :attr:`consumed`)."""
        return self._partial_len

    def feed(self, data: bytes) -> list[str]:
        """Add ``data``; return the lines it completed (without newlines)."""
        if not data:
            return []
        end = data.rfind(b"\n")
        if end < 0:
            self._keep(data)
            return []
        first = data.find(b"\n")
        lines: list[str] = []
        head = data[:first]
        lines.append(self._finish(head))
        if end > first:
            body = data[first + 1:end]
            self.consumed += len(body) + 1
            limit = self.max_line_bytes
            for raw in body.split(b"\n"):
                if len(raw) > limit:
                    self.cut_lines += 1
                    raw = raw[:limit]
                lines.append(self._decode(raw))
        self._keep(data[end + 1:])
        return lines

    def flush(self) -> str | None:
        """The unfinished line as it stands (the file ended for good: it was rotated away), or ``None``."""
        if not self._partial_len:
            return None
        return self._finish(b"", newline=False)

    def reset(self) -> None:
        """Forget the unfinished line (the file was truncated under it)."""
        self._partial, self._partial_len, self._cut = b"", 0, False

    def _keep(self, data: bytes) -> None:
        if not data:
            return
        self._partial_len += len(data)
        room = self.max_line_bytes - len(self._partial)
        if room >= len(data):
            self._partial += data
        else:
            # Past the limit: keep what fits, skip the rest of this line as it streams by.
            self._partial += data[:max(room, 0)]
            self._cut = True

    def _finish(self, tail: bytes, newline: bool = True) -> str:
        total = self._partial_len + len(tail)
        raw = self._partial + tail[:max(self.max_line_bytes - len(self._partial), 0)]
        cut = self._cut or len(raw) < total
        if cut:
            self.cut_lines += 1
        self.consumed += total + newline
        self._partial, self._partial_len, self._cut = b"", 0, False
        return self._decode(raw)

    @staticmethod
    def _decode(raw: bytes) -> str:
        if b"\0" in raw:
            raw = raw.replace(b"\0", b"")
        return raw.decode("utf-8", "replace")
