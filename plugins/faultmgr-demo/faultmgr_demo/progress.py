"""The progress line on standard error: a spinner with what the demo is waiting for, and its elapsed time.

On a terminal the line is redrawn in place; otherwise (a pipe, a test) each step is printed once, so logs stay
readable. Standard output is left to the timeline (and to ``--json``).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

FRAMES = "|/-\\"


class Progress:
    """``step(text)`` says what happens now; ``wait(text, predicate, timeout)`` spins until it holds."""

    def __init__(self, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and self.stream.isatty()
        self._text = ""
        #: Put before every step's text (the story sets it to the stage number).
        self.prefix = ""
        self._since = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Progress:
        if self.tty:
            self._thread = threading.Thread(target=self._spin, name="demo-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)
        self.clear()

    def _spin(self) -> None:
        frame = 0
        while not self._stop.wait(0.1):
            with self._lock:
                if self._text:
                    elapsed = time.monotonic() - self._since
                    self.stream.write(f"\r\033[K{FRAMES[frame % len(FRAMES)]} {self._text} ({elapsed:.1f}s)")
                    self.stream.flush()
            frame += 1

    def clear(self) -> None:
        """Erase the progress line (before printing something else on the terminal)."""
        if self.tty:
            with self._lock:
                self.stream.write("\r\033[K")
                self.stream.flush()

    def step(self, text: str) -> None:
        """A new thing is happening."""
        text = self.prefix + text
        with self._lock:
            self._text, self._since = text, time.monotonic()
        if self.enabled and not self.tty:
            self.stream.write(f"... {text}\n")
            self.stream.flush()

    def note(self, text: str) -> None:
        """A line that stays (above the spinner)."""
        if not self.enabled:
            return
        with self._lock:
            self.stream.write(("\r\033[K" if self.tty else "") + text + "\n")
            self.stream.flush()

    def wait(self, text: str, predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
        """Spin with ``text`` until ``predicate()`` is true; false when ``timeout`` seconds passed first."""
        self.step(text)
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                return False
            time.sleep(interval)
        return True
