"""Bytes read from a log -> complete, bounded, decoded lines.

Memory stays bounded whatever the file holds: a line longer than ``max_line_bytes`` keeps its first
``max_line_bytes`` bytes and its last ``tail_bytes`` bytes, joined by `` [...] ``; what lies between is
skipped as it streams by, never held, and the line is counted as cut. The tail is kept because log lines
put what their writer adds last (sshd's ``from ADDR port N``) after what an attacker chooses (a user
name): padding the user name to push the address out of the line does not work. NUL bytes are removed (a crashed writer leaves runs of them after a truncation) and invalid UTF-8 is
decoded with U+FFFD. A last line without its newline is held until the newline arrives.
"""

from __future__ import annotations

#: What stands in a cut line for the bytes skipped between its head and its tail.
CUT_MARK = b" [...] "


class LineSplitter:
    """Splits a byte stream into lines. ``consumed`` counts the bytes of every complete line handed out,
    so the caller can persist the offset of the first byte not yet handed out."""

    def __init__(self, max_line_bytes: int = 65536, tail_bytes: int | None = None) -> None:
        if max_line_bytes < 1:
            raise ValueError("max_line_bytes must be positive")
        self.max_line_bytes = max_line_bytes
        self.tail_bytes = min(1024, max_line_bytes // 4) if tail_bytes is None else tail_bytes
        self._partial = b""
        self._tail = b""  # the last tail_bytes bytes skipped of a line being cut
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
            parts = body.split(b"\n")
            if max(map(len, parts)) <= limit:
                # No line to cut: decode the whole run at once (a newline byte is never inside a UTF-8
                # sequence, so this equals decoding line by line) and split the text.
                lines += self._decode(body).split("\n")
            else:
                for raw in parts:
                    if len(raw) > limit:
                        self.cut_lines += 1
                        raw = self._joined(raw[:limit], raw[limit:])
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
        self._partial, self._partial_len, self._cut, self._tail = b"", 0, False, b""

    def _keep(self, data: bytes) -> None:
        if not data:
            return
        self._partial_len += len(data)
        room = self.max_line_bytes - len(self._partial)
        if room >= len(data):
            self._partial += data
        else:
            # Past the limit: keep what fits, skip the rest of this line as it streams by (but its tail).
            room = max(room, 0)
            self._partial += data[:room]
            if self.tail_bytes:
                self._tail = (self._tail + data[room:])[-self.tail_bytes:]
            self._cut = True

    def _finish(self, tail: bytes, newline: bool = True) -> str:
        total = self._partial_len + len(tail)
        room = max(self.max_line_bytes - len(self._partial), 0)
        raw = self._partial + tail[:room]
        if self._cut or len(raw) < total:
            self.cut_lines += 1
            raw = self._joined(raw, self._tail + tail[room:])
        self.consumed += total + newline
        self._partial, self._partial_len, self._cut, self._tail = b"", 0, False, b""
        return self._decode(raw)

    def _joined(self, head: bytes, skipped: bytes) -> bytes:
        if not self.tail_bytes:
            return head
        return head + CUT_MARK + skipped[-self.tail_bytes:]

    @staticmethod
    def _decode(raw: bytes) -> str:
        if b"\0" in raw:
            raw = raw.replace(b"\0", b"")
        return raw.decode("utf-8", "replace")
