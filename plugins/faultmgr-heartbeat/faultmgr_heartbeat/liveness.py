"""Per-peer and per-path liveness, and replay protection: the heartbeat's state machine.

:meth:`Liveness.accept` runs in the receiver thread with the time the packet was read, so the timestamps
that decide life and death do not depend on when the event loop gets round to looking at them.
:meth:`Liveness.evaluate` runs on the event loop and turns silence into :class:`Transition` objects.
Times are ``time.monotonic()`` seconds, passed in (the tests drive the machine with made-up times).

Replay rules, per peer: a packet's generation must not be older than the newest authenticated one seen;
a newer generation means the peer restarted and resets its sequence numbers. Within a generation the
sequence number must grow on each path (one beat goes out on every path with the same number), and may
lag the peer's newest by at most ``replay_window`` beats, so that beats recorded on one path and replayed
later on another keep a dead peer alive no longer than that window. Only packets that passed the MAC
check get here, so a forged generation cannot push a peer's counters forward.

Each path also counts what it delivered (:meth:`Liveness.path_stats`, read by the API's metrics): beats
accepted, beats lost (sequence gaps between consecutive accepted beats of one generation) and the time
between consecutive beats in a fixed-bucket histogram. Counting happens in :meth:`Liveness.accept`, under
the lock it already holds: one bisect and a few additions per beat.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field
from typing import Any

from faultmgr_heartbeat.protocol import Packet

UNKNOWN, UP, WARN, DEAD = "unknown", "up", "warn", "dead"

#: Upper bounds (seconds) of the inter-arrival histogram's buckets; ``inf`` is added after the last.
INTERARRIVAL_BUCKETS: tuple[float, ...] = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class Timing:
    """The ha.cf timers, in seconds."""

    keepalive: float
    warntime: float
    deadtime: float
    initdead: float
    path_deadtime: float

    @property
    def replay_window(self) -> int:
        """Beats a path may lag the peer's newest sequence number: about one deadtime's worth."""
        return int(self.deadtime / self.keepalive) + 2


@dataclass(frozen=True, slots=True)
class Transition:
    """A change the detector reports: ``kind`` is ``peer.up``, ``peer.warn``, ``peer.dead``,
    ``peer.restored``, ``peer.rebooted``, ``path.down`` or ``path.up``."""

    kind: str
    peer: str
    path: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class PathStats:
    """Counters of one peer's beats on one path; they only grow (a peer's restart resets the comparison with
    the previous beat, never a counter)."""

    beats: int = 0
    lost: int = 0
    #: Beats per inter-arrival bucket (not cumulative), the last slot for gaps above every bound.
    gaps: list[int] = field(default_factory=lambda: [0] * (len(INTERARRIVAL_BUCKETS) + 1))
    gap_sum: float = 0.0
    #: Sequence number and receive time of the previous accepted beat of the current generation (0/None:
    #: none yet, as after a restart of the peer or of this node).
    prev_seq: int = 0
    prev_time: float | None = None

    def count(self, seq: int, now: float) -> None:
        """One accepted beat ``seq`` read at ``now``."""
        self.beats += 1
        if self.prev_seq:
            self.lost += max(0, seq - self.prev_seq - 1)
        if self.prev_time is not None:
            gap = max(0.0, now - self.prev_time)
            self.gaps[bisect.bisect_left(INTERARRIVAL_BUCKETS, gap)] += 1
            self.gap_sum += gap
        self.prev_seq, self.prev_time = seq, now

    def snapshot(self) -> dict[str, Any]:
        """``{"beats", "lost", "interarrival": {"buckets": [(bound, cumulative), ..., (inf, n)], "sum_s",
        "count"}}``."""
        buckets, total = [], 0
        for bound, n in zip((*INTERARRIVAL_BUCKETS, float("inf")), self.gaps, strict=True):
            total += n
            buckets.append((bound, total))
        return {"beats": self.beats, "lost": self.lost,
                "interarrival": {"buckets": buckets, "sum_s": self.gap_sum, "count": total}}


@dataclass
class PathRecord:
    """What one path has delivered from one peer."""

    seq: int = 0
    last_seen: float | None = None
    announced_down: bool = False
    stats: PathStats = field(default_factory=PathStats)


@dataclass
class PeerRecord:
    """What is known of one peer."""

    name: str
    paths: dict[str, PathRecord]
    state: str = UNKNOWN
    generation: int | None = None
    max_seq: int = 0
    last_seen: float | None = None
    status: dict[str, Any] = field(default_factory=dict)
    restarts: int = 0


class Liveness:
    """The state of every peer, fed by received packets and evaluated against the clock."""

    def __init__(self, peers: list[str], paths: list[str], timing: Timing, started: float) -> None:
        self.timing = timing
        self.started = started
        self.grace_until = started
        self._lock = threading.Lock()
        self._peers = {name: PeerRecord(name, {path: PathRecord() for path in paths}) for name in peers}
        self._pending: list[Transition] = []

    # -- receiver thread --------------------------------------------------------------------------

    def accept(self, packet: Packet, path: str, now: float) -> str | None:
        """Record an authenticated packet; return a drop reason (``replayed``, ``unknown-peer``) or ``None``."""
        with self._lock:
            peer = self._peers.get(packet.node)
            if peer is None:
                return "unknown-peer"
            if peer.generation is None or packet.generation > peer.generation:
                if peer.generation is not None:
                    peer.restarts += 1
                    self._pending.append(Transition("peer.rebooted", peer.name, path, {
                        "old_generation": peer.generation, "generation": packet.generation}))
                peer.generation, peer.max_seq = packet.generation, 0
                for record in peer.paths.values():
                    record.seq = 0
                    record.stats.prev_seq, record.stats.prev_time = 0, None
            elif packet.generation < peer.generation:
                return "replayed"
            record = peer.paths[path]
            if packet.seq <= record.seq or packet.seq + self.timing.replay_window < peer.max_seq:
                return "replayed"
            record.stats.count(packet.seq, now)
            record.seq = packet.seq
            record.last_seen = now
            peer.max_seq = max(peer.max_seq, packet.seq)
            peer.last_seen = now if peer.last_seen is None else max(peer.last_seen, now)
            peer.status = packet.status
            return None

    # -- event loop -------------------------------------------------------------------------------

    def give_grace(self, until: float) -> None:
        """Hold back every warn/dead/path-down decision until ``until`` (after this process stalled)."""
        with self._lock:
            self.grace_until = max(self.grace_until, until)

    def evaluate(self, now: float) -> list[Transition]:
        """Compare each peer's silence with the timers; return what changed since the last call."""
        with self._lock:
            changes, self._pending = self._pending, []
            holding = now < self.grace_until
            for peer in self._peers.values():
                changes.extend(self._evaluate_peer(peer, now, holding))
                changes.extend(self._evaluate_paths(peer, now, holding))
            return changes

    def _target(self, peer: PeerRecord, now: float) -> str:
        if peer.last_seen is None:
            return DEAD if now - self.started >= self.timing.initdead else UNKNOWN
        silence = now - peer.last_seen
        if silence >= self.timing.deadtime:
            return DEAD
        return WARN if silence >= self.timing.warntime else UP

    def _evaluate_peer(self, peer: PeerRecord, now: float, holding: bool) -> list[Transition]:
        target = self._target(peer, now)
        changes: list[Transition] = []
        silence = None if peer.last_seen is None else round(now - peer.last_seen, 3)
        if target in (UP, WARN) and peer.state in (UNKNOWN, DEAD, WARN) and not (
                target == WARN and peer.state == WARN):
            kind = "peer.up" if peer.state == UNKNOWN else "peer.restored"
            changes.append(Transition(kind, peer.name, detail={"was": peer.state}))
            peer.state = UP
        if holding:
            return changes
        if target == WARN and peer.state == UP:
            changes.append(Transition("peer.warn", peer.name, detail={"silence": silence}))
            peer.state = WARN
        elif target == DEAD and peer.state != DEAD:
            detail: dict[str, Any] = {"silence": silence, "was": peer.state}
            if peer.last_seen is None:
                detail["reason"] = "no beat within initdead"
            changes.append(Transition("peer.dead", peer.name, detail=detail))
            peer.state = DEAD
        return changes

    def _path_alive(self, record: PathRecord, now: float) -> bool:
        return record.last_seen is not None and now - record.last_seen < self.timing.path_deadtime

    def _evaluate_paths(self, peer: PeerRecord, now: float, holding: bool) -> list[Transition]:
        changes: list[Transition] = []
        for name, record in peer.paths.items():
            alive = self._path_alive(record, now)
            if alive and record.announced_down:
                changes.append(Transition("path.up", peer.name, name))
                record.announced_down = False
            elif not alive and not record.announced_down and not holding and self._outlived(peer, name, now):
                silence = None if record.last_seen is None else round(now - record.last_seen, 3)
                changes.append(Transition("path.down", peer.name, name, {"silence": silence}))
                record.announced_down = True
        return changes

    def _outlived(self, peer: PeerRecord, name: str, now: float) -> bool:
        """True when another path kept delivering for ``path_deadtime`` after this one went quiet.

        Comparing receive times, not silence against the clock: when the peer itself dies every path goes
        quiet within milliseconds of the others, and that is one ``peer.dead``, not a ``path.down`` for
        whichever path happened to carry the last beat a little earlier.
        """
        others = [r.last_seen for n, r in peer.paths.items() if n != name and r.last_seen is not None]
        if not others:
            return False
        record = peer.paths[name]
        if record.last_seen is None:
            return now - self.started >= self.timing.initdead and any(now - t < self.timing.path_deadtime
                                                                     for t in others)
        return max(others) - record.last_seen >= self.timing.path_deadtime

    # -- queries (any thread) ---------------------------------------------------------------------

    def peer_state(self, name: str) -> str:
        """``up``, ``warn``, ``dead`` or ``unknown`` (also for a name that is not a peer)."""
        with self._lock:
            peer = self._peers.get(name)
            return peer.state if peer else UNKNOWN

    def paths_alive(self, name: str, now: float) -> list[str]:
        """The paths on which ``name`` was heard within ``path_deadtime``."""
        with self._lock:
            peer = self._peers.get(name)
            if peer is None:
                return []
            return [path for path, record in peer.paths.items() if self._path_alive(record, now)]

    def last_seen(self, name: str) -> float | None:
        """When ``name``'s newest accepted beat was read (``None``: never, or not watched)."""
        with self._lock:
            peer = self._peers.get(name)
            return peer.last_seen if peer else None

    def peer_status(self, name: str) -> dict[str, Any]:
        """The status dict of the newest beat from ``name`` (empty if none)."""
        with self._lock:
            peer = self._peers.get(name)
            return dict(peer.status) if peer else {}

    def states(self) -> dict[str, str]:
        """Every peer's state."""
        with self._lock:
            return {name: peer.state for name, peer in self._peers.items()}

    def high_water(self) -> dict[str, list[int]]:
        """``{peer: [generation, seq]}``, saved so that a restart of this node still refuses replays."""
        with self._lock:
            return {name: [peer.generation, peer.max_seq] for name, peer in self._peers.items()
                    if peer.generation is not None}

    def restore_high_water(self, saved: dict[str, Any]) -> None:
        """Start from what :meth:`high_water` returned before a restart (bad entries are ignored)."""
        with self._lock:
            for name, value in saved.items():
                peer = self._peers.get(name)
                if peer is None or not (isinstance(value, list) and len(value) == 2
                                        and all(isinstance(v, int) and v >= 0 for v in value)):
                    continue
                peer.generation, peer.max_seq = value
                for record in peer.paths.values():
                    record.seq = peer.max_seq

    def path_stats(self) -> dict[str, dict[str, dict[str, Any]]]:
        """``{peer: {path: PathStats.snapshot()}}``: beats accepted, lost and their inter-arrival histogram."""
        with self._lock:
            return {name: {path: record.stats.snapshot() for path, record in peer.paths.items()}
                    for name, peer in self._peers.items()}

    def snapshot(self, now: float) -> dict[str, Any]:
        """A JSON-ready view of every peer for ``status()``."""
        def ago(when: float | None) -> float | None:
            return None if when is None else round((now - when) * 1000, 1)

        with self._lock:
            return {name: {
                "state": peer.state,
                "last_seen_ms_ago": ago(peer.last_seen),
                "generation": peer.generation,
                "seq": peer.max_seq,
                "restarts": peer.restarts,
                "status": dict(peer.status),
                "paths": {path: {"alive": self._path_alive(record, now), "seq": record.seq,
                                 "last_seen_ms_ago": ago(record.last_seen)}
                          for path, record in peer.paths.items()},
            } for name, peer in self._peers.items()}
