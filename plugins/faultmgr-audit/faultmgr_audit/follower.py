"""Follow one log file as it grows: across rotation by rename and by copytruncate, and across restarts.

The read position -- the file's device and inode, the offset of the first byte not yet handed out as a
complete line, and a hash of the file's first bytes -- is saved in the runtime's key/value store after
every poll that moved it, and at stop. On start the saved position tells what to do:

* same inode and same first bytes: resume at the saved offset (nothing is read twice);
* the inode changed (the log was rotated while we were down): the old file is looked for among the
  siblings (``audit.log.1``, ``audit.log-2026...``) by inode and its remainder read first, then the new
  file from its start (nothing is missed);
* the file is shorter than the offset, or its first bytes changed: it was truncated; read from 0.

While running, every poll reads up to ``read_budget`` bytes. At the end of the file it checks whether the
path now names another file (rotation by rename: the old file was read to its end, its unfinished last
line is handed out, then the new file is opened) and whether the file shrank or its first bytes changed
(copytruncate: the copy is looked for by its first bytes and read from our offset, then the truncated file
from 0). Files are opened with ``O_NOFOLLOW`` unless ``follow_symlinks``: a path replaced by a symlink is
reported and not followed, and the old file is read to its end.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faultmgr.store import KeyValueStore
from faultmgr_audit.lines import LineSplitter

HEAD_BYTES = 256
CHUNK_BYTES = 1 << 20
MAX_SIBLINGS = 32


@dataclass
class Notice:
    """Something about the file itself (not its lines) that the detector reports as an event."""

    what: str  # truncated, rotated, symlink, missing, not_regular, stalled, resumed, error
    message: str
    payload: dict[str, Any] = field(default_factory=dict)


def _head_hash(fd: int, length: int) -> str:
    return hashlib.sha256(os.pread(fd, length, 0)).hexdigest()[:32]


class LogFollower:
    """Reads complete lines appended to ``path``; see the module docstring for rotation and restarts."""

    def __init__(self, path: Path, *, store: KeyValueStore | None, store_key: tuple[str, str],
                 max_line_bytes: int = 65536, follow_symlinks: bool = False, start_at: str = "end",
                 read_budget: int = 256 << 10, stall_after: float | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        self.path = Path(path)
        self.store, self.store_key = store, store_key
        self.max_line_bytes, self.follow_symlinks = max_line_bytes, follow_symlinks
        self.start_at, self.read_budget, self.stall_after = start_at, read_budget, stall_after
        self.clock = clock or time.monotonic
        self._fd: int | None = None
        self._ident = (0, 0)
        self._head: tuple[int, str] = (0, "")
        self._base = 0  # file offset where the current splitter started
        self._read = 0  # file offset of the next byte to read
        self._splitter = LineSplitter(max_line_bytes)
        self._saved: dict[str, Any] | None = None
        self._reported: set[str] = set()  # one-shot notices already given for the current state
        self._last_growth = self.clock()
        self._last_size: tuple[int, int] = (0, -1)
        self._stalled = False
        self.lines_read = 0
        self.cut_lines = 0
        #: true when the last poll stopped at its read budget with more to read.
        self.behind = False

    # -- public ------------------------------------------------------------------------------------

    @property
    def offset(self) -> int:
        """Offset of the first byte of the current file not yet handed out as a complete line."""
        return self._base + self._splitter.consumed

    def poll(self, save: bool = True) -> tuple[list[str], list[Notice]]:
        """Read what was appended since the last poll; return complete lines and notices.

        :param save: persist the new position now. The detector passes false and calls :meth:`save` once
            the lines are processed, so a crash in between repeats them rather than losing them.
        """
        lines: list[str] = []
        notices: list[Notice] = []
        try:
            if self._fd is None:
                self._open_initial(lines, notices)
            if self._fd is not None:
                self._check_truncation(lines, notices)
                at_end = self._read_available(lines)
                self.behind = not at_end
                if at_end:
                    self._check_rotation(lines, notices)
                self._reported.discard("error")
        except OSError as exc:
            # Reported once until a poll succeeds again: a failing disk must not flood the journal.
            self._notice_once(notices, "error", f"reading {self.path} failed: {exc.strerror}")
            self._close()
        self._check_stall(notices)
        if save:
            self.save()
        self.lines_read += len(lines)
        return lines, notices

    def save(self) -> None:
        """Persist the position if it moved since it was last saved."""
        if self.store is None or self._fd is None:
            return
        position = {"dev": self._ident[0], "ino": self._ident[1], "offset": self.offset,
                    "head_len": self._head[0], "head": self._head[1]}
        if position != self._saved:
            self.store.set(*self.store_key, position)
            self._saved = position

    def close(self) -> None:
        """Save the position and close the file."""
        self.save()
        self._close()

    def status(self) -> dict[str, Any]:
        """A JSON-ready view: path, whether open, offset, lines read, lines cut, stalled."""
        return {"path": str(self.path), "open": self._fd is not None, "offset": self.offset,
                "lines": self.lines_read, "cut_lines": self.cut_lines + self._splitter.cut_lines,
                "stalled": self._stalled}

    # -- opening -----------------------------------------------------------------------------------

    def _open(self, path: Path, notices: list[Notice]) -> int | None:
        flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if self.follow_symlinks else os.O_NOFOLLOW)
        try:
            fd = os.open(path, flags)
        except FileNotFoundError:
            self._notice_once(notices, "missing", f"{path} does not exist")
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                self._notice_once(notices, "symlink", f"{path} is a symbolic link; not followed "
                                  "(set follow_symlinks to allow it)")
            else:
                self._notice_once(notices, "error", f"cannot open {path}: {exc.strerror}")
            return None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            self._notice_once(notices, "not_regular", f"{path} is not a regular file; not read")
            return None
        self._reported -= {"missing", "symlink", "not_regular"}
        return fd

    def _attach(self, fd: int, offset: int) -> None:
        self._close()
        info = os.fstat(fd)
        self._fd, self._ident = fd, (info.st_dev, info.st_ino)
        self._base = self._read = offset
        self.cut_lines += self._splitter.cut_lines
        self._splitter = LineSplitter(self.max_line_bytes)
        length = min(info.st_size, HEAD_BYTES)
        self._head = (length, _head_hash(fd, length))

    def _open_initial(self, lines: list[str], notices: list[Notice]) -> None:
        fd = self._open(self.path, notices)
        if fd is None:
            return
        info = os.fstat(fd)
        saved = self.store.get(*self.store_key) if self.store is not None else None
        if not isinstance(saved, dict):
            self._attach(fd, self._start_offset(fd, info.st_size))
            return
        offset = int(saved.get("offset", 0))
        same = (info.st_dev, info.st_ino) == (saved.get("dev"), saved.get("ino"))
        if same and self._head_matches(fd, saved) and info.st_size >= offset:
            self._attach(fd, offset)
            return
        if same:
            self._attach(fd, 0)
            notices.append(Notice("truncated", f"{self.path} was truncated or rewritten while faultmgr "
                                  "was not running; reading it from the start", {"saved_offset": offset}))
            return
        old = self._find_sibling(lambda sfd, st: (st.st_dev, st.st_ino) == (saved.get("dev"), saved.get("ino"))
                                 and self._head_matches(sfd, saved))
        if old is not None:
            # Rotated while we were down: finish the old file first; _check_rotation then switches.
            os.close(fd)
            self._attach(old, min(offset, os.fstat(old).st_size))
        else:
            self._attach(fd, 0)
        notices.append(Notice("rotated", f"{self.path} was rotated while faultmgr was not running",
                              {"saved_offset": offset, "old_file_found": old is not None}))

    def _start_offset(self, fd: int, size: int) -> int:
        if self.start_at == "start" or size == 0:
            return 0
        # Start after the last complete line, so the first line handed out is whole.
        tail_start = max(0, size - self.max_line_bytes)
        newline = os.pread(fd, size - tail_start, tail_start).rfind(b"\n")
        return tail_start + newline + 1 if newline >= 0 else size

    @staticmethod
    def _head_matches(fd: int, saved: dict[str, Any]) -> bool:
        return _head_hash(fd, int(saved.get("head_len", 0))) == saved.get("head")

    def _find_sibling(self, test: Callable[[int, os.stat_result], bool]) -> int | None:
        """An open fd on a rotated copy of the log in the same folder (``NAME.1``, ``NAME-2026...``)."""
        try:
            names = sorted(n for n in os.listdir(self.path.parent)
                           if n.startswith(self.path.name) and n != self.path.name
                           and not n.endswith((".gz", ".xz", ".bz2", ".zst")))
        except OSError:
            return None
        for name in names[:MAX_SIBLINGS]:
            try:
                fd = os.open(self.path.parent / name, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW)
            except OSError:
                continue
            info = os.fstat(fd)
            if stat.S_ISREG(info.st_mode) and test(fd, info):
                return fd
            os.close(fd)
        return None

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # -- reading -----------------------------------------------------------------------------------

    def _read_available(self, lines: list[str], budget: int | None = None) -> bool:
        """Read up to the budget; true when the end of the file was reached."""
        assert self._fd is not None
        budget = self.read_budget if budget is None else budget
        while budget > 0:
            data = os.pread(self._fd, min(CHUNK_BYTES, budget), self._read)
            if not data:
                return True
            self._read += len(data)
            budget -= len(data)
            lines.extend(self._splitter.feed(data))
        return False

    def _check_truncation(self, lines: list[str], notices: list[Notice]) -> None:
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        length, digest = self._head
        shrank = size < self._read
        if not shrank and _head_hash(self._fd, length) == digest:
            if length < HEAD_BYTES and size > length:
                new_length = min(size, HEAD_BYTES)
                self._head = (new_length, _head_hash(self._fd, new_length))
            return
        # copytruncate: lines written after our last read are in the copy, which starts as our file did.
        copy = self._find_sibling(lambda sfd, st: st.st_size >= self._read and _head_hash(sfd, length) == digest)
        recovered = 0
        if copy is not None:
            fd, self._fd = self._fd, copy
            before = len(lines)
            self._read_available(lines, budget=1 << 40)
            recovered = len(lines) - before
            os.close(copy)
            self._fd = fd
        tail = self._splitter.flush()
        if tail:
            lines.append(tail)
        notices.append(Notice("truncated", f"{self.path} was truncated (copytruncate?) at offset "
                              f"{self._read}; reading it again from the start",
                              {"offset": self._read, "size": size, "recovered_lines": recovered}))
        fd, self._fd = self._fd, None
        self._attach(fd, 0)

    def _check_rotation(self, lines: list[str], notices: list[Notice]) -> bool:
        """At the end of the current file: switch to a new file at the path. True when it switched."""
        try:
            info = os.stat(self.path, follow_symlinks=self.follow_symlinks)
        except FileNotFoundError:
            return False  # renamed away, not recreated yet: keep reading the old file
        if (info.st_dev, info.st_ino) == self._ident:
            return False
        if stat.S_ISLNK(info.st_mode):
            self._notice_once(notices, "symlink", f"{self.path} was replaced by a symbolic link; not followed "
                              "(set follow_symlinks to allow it)", {"target": os.readlink(self.path)})
            return False
        fd = self._open(self.path, notices)
        if fd is None:
            return False
        self._read_available(lines, budget=1 << 40)  # what the writer added before it let go of the file
        tail = self._splitter.flush()
        if tail:
            lines.append(tail)
        self._attach(fd, 0)
        notices.append(Notice("rotated", f"{self.path} was rotated; following the new file"))
        self._read_available(lines)
        return True

    def _check_stall(self, notices: list[Notice]) -> None:
        size = (self._ident[1], os.fstat(self._fd).st_size) if self._fd is not None else (0, -1)
        now = self.clock()
        if size != self._last_size:
            self._last_size, self._last_growth = size, now
            if self._stalled:
                self._stalled = False
                notices.append(Notice("resumed", f"{self.path} is growing again"))
        elif self.stall_after is not None and not self._stalled and now - self._last_growth >= self.stall_after:
            self._stalled = True
            notices.append(Notice("stalled", f"{self.path} has not grown for {now - self._last_growth:.0f}s",
                                  {"stall_after": self.stall_after}))

    def _notice_once(self, notices: list[Notice], what: str, message: str,
                     payload: dict[str, Any] | None = None) -> None:
        if what not in self._reported:
            self._reported.add(what)
            notices.append(Notice(what, message, payload or {}))
