"""The sender thread: beats leave on time whatever the event loop is doing.

Slow plugin work on the event loop (a blocking call, a long computation) must not delay beats, or the
peers would declare this node dead while it is only busy (keepalived issues #2066, #2238 record such false
failovers). The thread sleeps on a fixed grid of ``keepalive`` and sends one packet to every path; when it
wakes much later than due (the whole process was paused) it reports a stall.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from faultmgr_heartbeat.auth import KeyRing
from faultmgr_heartbeat.looplag import LagMeter
from faultmgr_heartbeat.paths import HeartbeatPath
from faultmgr_heartbeat.protocol import Packet, encode


class Sender(threading.Thread):
    """Sends one beat per ``interval`` on every path until :meth:`stop`."""

    def __init__(self, node: str, generation: int, keys: KeyRing, paths: list[HeartbeatPath],
                 interval: float, on_stall: Callable[[float], None], log: logging.Logger) -> None:
        super().__init__(name=f"heartbeat-send-{node}", daemon=True)
        self.node = node
        self.generation = generation
        self.keys = keys
        self.paths = paths
        self.interval = interval
        self.on_stall = on_stall
        self.log = log
        self.seq = 0
        self.sent = 0
        self.errors = {path.name: 0 for path in paths}
        self.lag = LagMeter(stall_threshold=interval)
        # Replaced whole (never mutated) by set_status, so the thread always reads a consistent dict.
        self.status: dict[str, Any] = {}
        self._stopping = threading.Event()

    def set_status(self, status: dict[str, Any]) -> None:
        """Status carried by every following beat; ``ValueError`` if it would not fit in a packet."""
        encode(Packet(self.node, self.generation, 1, time.time(), status), self.keys.send_key)
        self.status = dict(status)

    def run(self) -> None:
        due = time.monotonic()
        while not self._stopping.wait(max(0.0, due - time.monotonic())):
            now = time.monotonic()
            if self.lag.record(now - due):
                self.on_stall(now)
            self.beat()
            due += self.interval
            if due <= now:
                # Beats missed during a stall are skipped, not sent in a burst.
                due = now + self.interval

    def beat(self) -> None:
        """Send one beat now (also used by tests that need an extra beat)."""
        self.seq += 1
        packet = encode(Packet(self.node, self.generation, self.seq, time.time(), self.status),
                        self.keys.send_key)
        for path in self.paths:
            try:
                path.send(packet)
            except (OSError, AssertionError) as exc:
                self.errors[path.name] += 1
                if self.errors[path.name] in (1, 10, 100) or self.errors[path.name] % 1000 == 0:
                    self.log.warning("heartbeat path %s: send failed (%s times): %s",
                                     path.name, self.errors[path.name], exc)
        self.sent += 1

    def stop(self) -> None:
        """Ask the thread to finish (it does within one interval)."""
        self._stopping.set()
