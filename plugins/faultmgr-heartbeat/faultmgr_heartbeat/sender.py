"""The sender thread: beats leave on time whatever the event loop is doing.

Slow plugin work on the event loop (a blocking call, a long computation) must not delay beats, or the
peers would declare this node dead while it is only busy (keepalived issues #2066, #2238 record such false
failovers). The thread sleeps on a fixed grid of ``keepalive`` and sends one packet to every path; when it
wakes much later than due (the whole process was paused) it reports a stall.

With ``realtime`` (ha.cf's ``realtime on``) the thread asks for ``SCHED_RR``: on a machine whose cores are
all busy, a normal thread was seen waking 40-50 ms late, a real-time one 0.1 ms. The thread does a bounded
amount of work per beat, so real-time priority cannot starve the machine. Python's GIL still makes a
thread wait for CPU-bound Python on the event loop; :mod:`faultmgr_heartbeat.beacon` runs this same
thread in a process of its own to remove that last dependency.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from faultmgr_heartbeat.auth import KeyRing
from faultmgr_heartbeat.looplag import LagMeter
from faultmgr_heartbeat.protocol import Packet, encode


class Transmitter(Protocol):
    """Anything that can put a packet on a path (a :class:`~faultmgr_heartbeat.paths.HeartbeatPath`)."""

    name: str

    def send(self, packet: bytes) -> None: ...


def go_realtime(priority: int, log: logging.Logger) -> bool:
    """Move the calling thread to ``SCHED_RR`` at ``priority``; false (and a log line) when not allowed."""
    try:
        os.sched_setscheduler(threading.get_native_id(), os.SCHED_RR, os.sched_param(priority))
    except (OSError, AttributeError) as exc:
        log.warning("heartbeat sender: real-time priority refused (%s); beats may be late on a busy host", exc)
        return False
    return True


class Sender(threading.Thread):
    """Sends one beat per ``interval`` on every transmitter until :meth:`stop`.

    :param first_seq: the sequence number of the first beat (a restarted beacon continues above the last).
    :param realtime_priority: ``SCHED_RR`` priority for the thread, or ``None`` to stay a normal thread.
    """

    def __init__(self, node: str, generation: int, keys: KeyRing, transmitters: list[Transmitter],
                 interval: float, on_stall: Callable[[float], None], log: logging.Logger,
                 first_seq: int = 1, realtime_priority: int | None = None) -> None:
        super().__init__(name=f"heartbeat-send-{node}", daemon=True)
        self.node = node
        self.generation = generation
        self.keys = keys
        self.transmitters = transmitters
        self.interval = interval
        self.on_stall = on_stall
        self.log = log
        self.seq = first_seq - 1
        self.sent = 0
        self.errors = {t.name: 0 for t in transmitters}
        self.lag = LagMeter(stall_threshold=interval)
        self.realtime_priority = realtime_priority
        self.realtime = False
        # Replaced whole (never mutated) by set_status, so the thread always reads a consistent dict.
        self.status: dict[str, Any] = {}
        self._stopping = threading.Event()

    def set_status(self, status: dict[str, Any]) -> None:
        """Status carried by every following beat; ``ValueError`` if it would not fit in a packet."""
        encode(Packet(self.node, self.generation, 1, time.time(), status), self.keys.send_key)
        self.status = dict(status)

    def run(self) -> None:
        if self.realtime_priority is not None:
            self.realtime = go_realtime(self.realtime_priority, self.log)
        due = time.monotonic()
        while not self._stopping.wait(max(0.0, due - time.monotonic())):
            now = time.monotonic()
            if self.lag.record(now - due):
                self.on_stall(now)
            try:
                self.beat()
            except Exception:  # a bug must not silence this node: log it and keep the rhythm
                self.log.exception("heartbeat sender: beat %s failed", self.seq)
            due += self.interval
            if due <= now:
                # Beats missed during a stall are skipped, not sent in a burst.
                due = now + self.interval

    def beat(self) -> None:
        """Send one beat now."""
        self.seq += 1
        packet = encode(Packet(self.node, self.generation, self.seq, time.time(), self.status),
                        self.keys.send_key)
        for transmitter in self.transmitters:
            try:
                transmitter.send(packet)
            except (OSError, AssertionError) as exc:
                count = self.errors[transmitter.name] = self.errors[transmitter.name] + 1
                if count in (1, 10, 100) or count % 1000 == 0:
                    self.log.warning("heartbeat path %s: send failed (%s times): %s", transmitter.name, count, exc)
        self.sent += 1

    def stop(self) -> None:
        """Ask the thread to finish (it does within one interval)."""
        self._stopping.set()
