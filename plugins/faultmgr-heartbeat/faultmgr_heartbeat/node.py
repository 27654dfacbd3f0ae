"""One heartbeat node: keys, paths, the sender and receiver threads, and the evaluator on the event loop.

Both detectors (``heartbeat`` and ``ehb``) run one :class:`HeartbeatNode` and only differ in how they turn
its :class:`~faultmgr_heartbeat.liveness.Transition` objects into events.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from faultmgr.tasks import stop_task
from faultmgr_heartbeat.auth import KeyRing, check_key_file, load_key_file
from faultmgr_heartbeat.beacon import ProcessSender
from faultmgr_heartbeat.liveness import Liveness, Timing, Transition
from faultmgr_heartbeat.looplag import LagMeter
from faultmgr_heartbeat.paths import HeartbeatPath, build_paths
from faultmgr_heartbeat.protocol import ProtocolError, decode
from faultmgr_heartbeat.receiver import Receiver
from faultmgr_heartbeat.security import DropCounter, ForgedBurst
from faultmgr_heartbeat.sender import Sender
from faultmgr_heartbeat.settings import BaseHeartbeatSettings

if TYPE_CHECKING:
    from faultmgr.store import KeyValueStore

STORE_NAMESPACE = "heartbeat"
#: How often the replay high-water marks are saved (they are saved at stop too).
SAVE_INTERVAL = 10.0

#: ``on_security(started, ended)``: details of a forged-packet burst that began or ended.
SecurityHandler = Callable[[dict[str, Any] | None, dict[str, Any] | None], None]


def next_generation(previous: int | None) -> int:
    """A generation above ``previous``: milliseconds since the epoch in the high bits, 20 random bits
    below, and never lower than the last one used (the clock may have gone back across a reboot)."""
    candidate = (time.time_ns() // 1_000_000) << 20 | secrets.randbits(20)
    if previous is not None and candidate <= previous:
        candidate = previous + 1
    return candidate % 2**64


class HeartbeatNode:
    """Runs the heartbeat protocol for one detector instance.

    :param instance: the detector's name (keys its saved state in the store).
    :param peers: the node names watched (cluster peers, or eHB members).
    :param on_changes: called on the event loop with the transitions of each evaluation.
    :param on_security: called on the event loop when a forged-packet burst begins or ends.
    :param arbiter: the node name of an eHB arbiter whose beats are accepted too. It gets a liveness record
        of its own (:attr:`arbiter_liveness`), so its transitions never reach ``on_changes``.
    """

    def __init__(self, instance: str, settings: BaseHeartbeatSettings, peers: list[str],
                 store: KeyValueStore | None, log: logging.Logger,
                 on_changes: Callable[[list[Transition]], None], on_security: SecurityHandler,
                 arbiter: str | None = None) -> None:
        self.instance = instance
        self.settings = settings
        self.peers = peers
        self.store = store
        self.log = log
        self.on_changes = on_changes
        self.on_security = on_security
        self.timing = Timing(settings.keepalive, settings.warntime, settings.deadtime, settings.initdead,
                             settings.path_deadtime or settings.deadtime)
        self.tick = min(0.5, max(0.01, settings.deadtime / 10))
        self.grace = settings.stall_grace or 2 * settings.keepalive
        self.paths: list[HeartbeatPath] = build_paths(settings.paths)
        self.liveness = Liveness(peers, [p.name for p in self.paths], self.timing, time.monotonic())
        self.arbiter = arbiter
        self.arbiter_liveness = self._arbiter_liveness(time.monotonic())
        #: Called on the event loop with the arbiter's own transitions (up, dead, ...).
        self.on_arbiter_changes: Callable[[list[Transition]], None] | None = None
        self.drops = DropCounter()
        self.forged = ForgedBurst(settings.forged_burst, settings.forged_window)
        self.loop_lag = LagMeter(stall_threshold=max(settings.keepalive, self.tick))
        self.keys: KeyRing | None = None
        self.generation = 0
        self.sender: Sender | ProcessSender | None = None
        self.receiver: Receiver | None = None
        self.received = 0
        self.own_beats = 0
        #: Status of the very first beat (an arbiter's empty view: a beat without one would mean "no view").
        self.first_status: dict[str, Any] = {}
        #: Called on the event loop after every evaluation (the detector compares ping-node reach there).
        self.after_evaluate: Callable[[], None] | None = None
        self._task: asyncio.Task[None] | None = None

    def check(self) -> list[str]:
        """Problems that stop a start: the key file's permissions and contents, names."""
        problems = []
        try:
            check_key_file(self.settings.key_file)
            load_key_file(self.settings.key_file)
        except ValueError as exc:
            problems.append(str(exc))
        if self.settings.node in self.peers:
            problems.append(f"node {self.settings.node!r} lists itself among the nodes it watches")
        return problems

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Load keys (refusing an unsafe key file), open paths, start the threads and the evaluator."""
        self.keys = load_key_file(self.settings.key_file)
        self.generation = next_generation(self._load("generation"))
        self._save("generation", self.generation)
        saved = self._load("peers")
        opened: list[HeartbeatPath] = []
        try:
            for path in self.paths:
                path.open()
                opened.append(path)
        except OSError as exc:
            for path in opened:
                path.close()
            raise OSError(exc.errno, f"heartbeat path {path.name}: {exc.strerror or exc}") from exc
        # initdead counts from the moment the paths are open.
        self.liveness = Liveness(self.peers, [p.name for p in self.paths], self.timing, time.monotonic())
        self.arbiter_liveness = self._arbiter_liveness(time.monotonic())
        if isinstance(saved, dict):
            self.liveness.restore_high_water(saved)
            if self.arbiter_liveness is not None:
                self.arbiter_liveness.restore_high_water(saved)
        self.receiver = Receiver(self.instance, self.paths, self._handle, self.log, self._reopened)
        self.receiver.start()
        if self.settings.sends():
            self.sender = self._sender(self.keys)
            self.sender.set_status(self.first_status)
            try:
                self.sender.start()
            except OSError as exc:
                # Beats from a thread are better than none: the node stays in the cluster.
                self.log.error("heartbeat beacon process cannot start (%s); sending from a thread", exc)
                self.sender = self._sender(self.keys, thread=True)
                self.sender.set_status(self.first_status)
                self.sender.start()
        self._task = asyncio.get_running_loop().create_task(self._evaluate_forever(),
                                                            name=f"heartbeat-{self.instance}")

    def _arbiter_liveness(self, now: float) -> Liveness | None:
        if self.arbiter is None:
            return None
        return Liveness([self.arbiter], [p.name for p in self.paths], self.timing, now)

    def high_water(self) -> dict[str, list[int]]:
        """The replay marks of the peers and of the arbiter, saved across restarts."""
        marks = self.liveness.high_water()
        if self.arbiter_liveness is not None:
            marks.update(self.arbiter_liveness.high_water())
        return marks

    def _sender(self, keys: KeyRing, thread: bool = False) -> Sender | ProcessSender:
        priority = self.settings.realtime_priority if self.settings.realtime else None
        if self.settings.sender == "process" and not thread:
            return ProcessSender(self.settings.node, self.generation, keys, self.paths, self.settings.keepalive,
                                 self._stalled, self.log, priority)
        return Sender(self.settings.node, self.generation, keys, list(self.paths), self.settings.keepalive,
                      self._stalled, self.log, realtime_priority=priority)

    async def stop(self) -> None:
        """Stop the threads and the evaluator, close the paths and save the replay marks."""
        await stop_task(self._task)
        self._task = None
        for thread in (self.sender, self.receiver):
            if thread is not None:
                thread.stop()
        for thread in (self.sender, self.receiver):
            if thread is not None and thread.is_alive():
                await asyncio.to_thread(thread.join, 5.0)
        if self.receiver is not None and not self.receiver.is_alive():
            self.receiver.close()
        self.sender = self.receiver = None
        for path in self.paths:
            path.close()
        self._save("peers", self.high_water())

    # -- receiver thread --------------------------------------------------------------------------

    def _handle(self, payload: bytes, path: HeartbeatPath, source: str, now: float) -> None:
        assert self.keys is not None
        self.received += 1
        try:
            packet = decode(payload, self.keys)
        except ProtocolError as exc:
            self.drops.count(exc.reason, path.name)
            if exc.reason == "forged":
                self.forged.record(now, source, path.name)
            return
        if packet.node == self.settings.node:
            # Our own beat, looped back by broadcast or multicast.
            self.own_beats += 1
            return
        # The arbiter's beats go through the same replay rules, against a record of their own.
        liveness = (self.arbiter_liveness if self.arbiter_liveness is not None and packet.node == self.arbiter
                    else self.liveness)
        reason = liveness.accept(packet, path.name, now)
        if reason is not None:
            self.drops.count(reason, path.name)

    def _reopened(self, path: HeartbeatPath) -> None:
        # A beacon process holds a copy of the old descriptor: give it the new one.
        if isinstance(self.sender, ProcessSender):
            self.sender.respawn()

    def _stalled(self, now: float) -> None:
        self.liveness.give_grace(now + self.grace)

    # -- event loop -------------------------------------------------------------------------------

    async def _evaluate_forever(self) -> None:
        last_save = time.monotonic()
        due = time.monotonic() + self.tick
        while True:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            now = time.monotonic()
            if self.loop_lag.record(now - due):
                # The loop was stalled: beats may still sit unread in socket buffers.
                self.liveness.give_grace(now + self.grace)
            due = max(due + self.tick, now)
            try:
                self.evaluate(now)
            except Exception:  # one failing emit must not end liveness evaluation for good
                self.log.exception("heartbeat %s: evaluation failed", self.instance)
            if now - last_save >= SAVE_INTERVAL:
                last_save = now
                self._save("peers", self.high_water())

    def evaluate(self, now: float) -> None:
        """One evaluation: hand transitions and security news to the detector."""
        changes = self.liveness.evaluate(now)
        if changes:
            self.on_changes(changes)
        if self.arbiter_liveness is not None:
            news = self.arbiter_liveness.evaluate(now)
            if news and self.on_arbiter_changes is not None:
                self.on_arbiter_changes(news)
        started, ended = self.forged.poll(now)
        if started or ended:
            self.on_security(started, ended)
        if self.after_evaluate is not None:
            self.after_evaluate()

    # -- state ------------------------------------------------------------------------------------

    def _load(self, key: str) -> Any:
        return self.store.get(STORE_NAMESPACE, f"{self.instance}:{key}") if self.store else None

    def _save(self, key: str, value: Any) -> None:
        if self.store is not None:
            self.store.set(STORE_NAMESPACE, f"{self.instance}:{key}", value)

    def status(self) -> dict[str, Any]:
        """A JSON-ready view: peers and paths, drops by reason, lags, counters.

        ``peers.<name>.{state, last_seen_ms_ago, restarts, paths.<path>.{alive, seq, last_seen_ms_ago}}`` are
        read by other distributions (faultmgr-api's nodes view and metrics): keep them stable.
        """
        now = time.monotonic()
        sender = self.sender
        return {
            "node": self.settings.node,
            "generation": self.generation,
            "seq": sender.seq if sender else 0,
            "sent": sender.sent if sender else 0,
            "received": self.received,
            "own_beats_ignored": self.own_beats,
            "keys": self.keys.key_ids if self.keys else [],
            "peers": self.liveness.snapshot(now),
            "paths": {path.name: {**path.describe(),
                                  "send_errors": sender.errors.get(path.name, 0) if sender else 0,
                                  "broken": bool(self.receiver and path.name in self.receiver.broken)}
                      for path in self.paths},
            "drops": self.drops.totals(),
            "drops_by_path": self.drops.by_path(),
            "forged_bursts": self.forged.bursts,
            "loop_lag_ms": self.loop_lag.as_dict(),
            "send_lag_ms": sender.lag.as_dict() if sender else None,
            "sender": {"mode": "process" if isinstance(sender, ProcessSender) else "thread", "realtime": sender.realtime if sender else False,
                       "pid": getattr(sender, "pid", None), "restarts": getattr(sender, "restarts", 0)},
            "grace_remaining_ms": max(0.0, round((self.liveness.grace_until - now) * 1000, 1)),
        }
