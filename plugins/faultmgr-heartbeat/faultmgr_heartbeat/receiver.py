"""The receiver thread: reads every path and timestamps each packet the moment it is read.

Liveness is judged against these timestamps, not against the time the event loop looks at them, so a
busy loop cannot make a live peer look silent. A path whose descriptor fails (a serial device unplugged)
is closed and reopened every second.
"""

from __future__ import annotations

import logging
import os
import selectors
import threading
import time
from collections.abc import Callable

from faultmgr_heartbeat.paths import HeartbeatPath

#: ``handle(payload, path, source, received_at)``
Handler = Callable[[bytes, HeartbeatPath, str, float], None]

REOPEN_INTERVAL = 1.0


class Receiver(threading.Thread):
    """Waits on every open path and hands each payload to ``handle`` with its receive time."""

    def __init__(self, name: str, paths: list[HeartbeatPath], handle: Handler, log: logging.Logger,
                 on_reopen: Callable[[HeartbeatPath], None] | None = None) -> None:
        super().__init__(name=f"heartbeat-recv-{name}", daemon=True)
        self.paths = paths
        self.handle = handle
        self.on_reopen = on_reopen
        self.log = log
        self.broken: dict[str, float] = {}
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        self._stopping = False

    def run(self) -> None:
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        for path in self.paths:
            self._selector.register(path.fileno(), selectors.EVENT_READ, path)
        try:
            while not self._stopping:
                for key, _ in self._selector.select(timeout=REOPEN_INTERVAL):
                    if key.data is not None:
                        self._read(key.data)
                self._reopen_broken()
        finally:
            self._selector.close()

    def _read(self, path: HeartbeatPath) -> None:
        try:
            received = path.receive()
        except OSError as exc:
            self.log.warning("heartbeat path %s failed, reopening: %s", path.name, exc)
            self._selector.unregister(path.fileno())
            path.close()
            self.broken[path.name] = time.monotonic()
            return
        for payload, source in received:
            now = time.monotonic()
            try:
                self.handle(payload, path, source, now)
            except Exception:  # a bug in handling one packet must not stop heartbeat reception
                self.log.exception("heartbeat path %s: error handling a packet from %s", path.name, source)

    def _reopen_broken(self) -> None:
        now = time.monotonic()
        for path in self.paths:
            failed = self.broken.get(path.name)
            if failed is None or now - failed < REOPEN_INTERVAL:
                continue
            try:
                path.open()
            except OSError as exc:
                self.broken[path.name] = now
                self.log.debug("heartbeat path %s still failing: %s", path.name, exc)
                continue
            del self.broken[path.name]
            self._selector.register(path.fileno(), selectors.EVENT_READ, path)
            self.log.info("heartbeat path %s reopened", path.name)
            if self.on_reopen is not None:
                self.on_reopen(path)

    def stop(self) -> None:
        """Ask the thread to finish and wake it (then :meth:`join` it and :meth:`close`)."""
        self._stopping = True
        os.write(self._wake_w, b"x")

    def close(self) -> None:
        """Release the wake-up pipe, once the thread has finished."""
        os.close(self._wake_r)
        os.close(self._wake_w)
