"""What must be true before a node takes an address over: the split-brain guard and the circuit breaker.

The guard gathers quorum evidence (the peer is dead on every heartbeat path, confirmed with ``require_arbiter``
by an eHB watcher that does not hear the peer either; or, with ``connectivity_failover``, the peer is alive but
reports lost ping nodes while this node reaches them all; the ping nodes answer) and can fence the peer (power
it off) before the address moves. The circuit breaker stops automatic takeover after
too many in a window: a VIP ping-ponging between heads is worse than one that stays put while a human looks.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections import deque
from typing import Any, Protocol, runtime_checkable

# Re-exported: the guard's probes moved to the core, where the heartbeat detector's ping nodes use them too.
from faultmgr.reachability import reachable, split_node, unreachable_nodes

__all__ = ["ArbiterWatcher", "CircuitBreaker", "PeerWatcher", "arbiter_agrees", "isolated_here", "peer_dead_on_all_paths", "peer_isolated", "reachable",
           "run_fence", "split_node", "unreachable_nodes"]


@runtime_checkable
class PeerWatcher(Protocol):
    """What the guard asks of the heartbeat detector (faultmgr-heartbeat implements it)."""

    def peer_state(self, name: str) -> Any:
        """The peer's state (``"alive"``, ``"warn"``, ``"dead"``, ... or an enum of those)."""

    def paths_alive(self, name: str) -> Any:
        """The heartbeat paths that still deliver from the peer (a collection, or a count)."""


@runtime_checkable
class ReachWatcher(PeerWatcher, Protocol):
    """A heartbeat detector that also compares ping-node reach (faultmgr-heartbeat's ``ping_nodes``)."""

    def ping_reach(self, name: str | None = None) -> tuple[int, int] | None:
        """(reached, configured) ping nodes: this node's last measurement (``None``), or what peer ``name``
        reported in its newest beat; ``None`` when unknown."""


@runtime_checkable
class ArbiterWatcher(PeerWatcher, Protocol):
    """A heartbeat detector that hears an arbiter (faultmgr-heartbeat's ``arbiter`` setting)."""

    def arbiter_view(self) -> tuple[bool, frozenset[str]] | None:
        """``(alive, members the arbiter hears)``, or ``None`` when no arbiter is configured."""


def arbiter_agrees(watcher: PeerWatcher, peer: str) -> tuple[bool | None, str]:
    """(verdict, reason): does the arbiter confirm that ``peer`` is gone? ``True``: it is heard and does not
    hear the peer; ``False``: it still hears the peer (only the link between the heads is down); ``None``: no
    quorum (no arbiter configured, or not heard within deadtime), which a fence may stand in for."""
    view = watcher.arbiter_view() if isinstance(watcher, ArbiterWatcher) else None
    if view is None:
        return None, "the heartbeat detector has no arbiter configured"
    alive, hears = view
    if not alive:
        return None, "the arbiter is not heard: no quorum"
    if peer in hears:
        return False, f"peer {peer} alive according to the arbiter: only the link between heads is down"
    return True, f"the arbiter does not hear {peer} either"


def _alive(watcher: PeerWatcher, peer: str) -> bool:
    state = watcher.peer_state(peer)
    return str(getattr(state, "value", state)).lower() in ("up", "warn")


def _isolation(watcher: PeerWatcher, peer: str, here: bool) -> tuple[bool, str]:
    """(verdict, reason): one side (this node when ``here``, else the peer) reports lost ping nodes while the
    other, alive, reaches all of its own."""
    if not isinstance(watcher, ReachWatcher):
        return False, "the heartbeat detector does not measure ping nodes"
    if not _alive(watcher, peer):
        return False, f"peer {peer} is not alive"
    theirs, mine = watcher.ping_reach(peer), watcher.ping_reach()
    if theirs is None or mine is None:
        return False, f"ping-node reach unknown (peer {peer}: {theirs}, here: {mine})"
    (lost, lost_name), (full, full_name) = ((mine, "this node"), (theirs, f"peer {peer}")) if here else (
        (theirs, f"peer {peer}"), (mine, "this node"))
    if not lost[0] < lost[1]:
        return False, f"{lost_name} reaches all its {lost[1]} ping node(s)"
    if not 0 < full[0] == full[1]:
        return False, f"{full_name} reaches {full[0]} of {full[1]} ping node(s), not all"
    return True, f"{lost_name} reaches {lost[0]} of {lost[1]} ping node(s), {full_name} all {full[1]}"


def peer_isolated(watcher: PeerWatcher, peer: str) -> tuple[bool, str]:
    """(verdict, reason): the peer is alive and reports lost ping nodes while this node reaches all of its own
    (Heartbeat's ipfail: the node with worse connectivity gives the service up)."""
    return _isolation(watcher, peer, here=False)


def isolated_here(watcher: PeerWatcher, peer: str) -> tuple[bool, str]:
    """(verdict, reason): the mirror of :func:`peer_isolated`: this node lost ping nodes while the live peer
    reaches all of its own, so this node should let the address go."""
    return _isolation(watcher, peer, here=True)


def peer_dead_on_all_paths(watcher: PeerWatcher, peer: str) -> tuple[bool, str]:
    """(verdict, reason): the peer counts as dead only when its state says dead and no path delivers."""
    state = watcher.peer_state(peer)
    name = str(getattr(state, "value", state)).lower()
    alive = watcher.paths_alive(peer)
    count = int(alive) if isinstance(alive, int) else len(alive) if alive is not None else 0
    if not name.endswith("dead"):
        return False, f"peer {peer} is {name}, not dead"
    if count:
        return False, f"peer {peer} still heard on {count} path(s): {alive}"
    return True, f"peer {peer} dead on all paths"


async def run_fence(argv: list[str], timeout: float) -> tuple[bool, str]:
    """Run the fencing command (its own process group, killed whole on timeout); exit 0 is success."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, start_new_session=True)
    except OSError as exc:
        return False, f"fence {argv[0]}: {exc.strerror}"
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        return False, f"fence timed out after {timeout:g}s"
    last = out.decode("utf-8", "replace").strip().splitlines()[-1:]
    detail = f"fence exit {proc.returncode}" + (f": {last[0][:200]}" if last else "")
    return proc.returncode == 0, detail


class CircuitBreaker:
    """Opens when more than ``limit`` takeovers happened within ``window`` seconds.

    Takeover times are kept in the durable store when there is one, so a daemon restarted in a loop still
    sees the ping-pong it is part of.
    """

    def __init__(self, limit: int, window: float, store: Any = None, key: str = "takeovers") -> None:
        self.limit = limit
        self.window = window
        self.store = store
        self.key = key
        saved = store.get("faultmgr-vip", key, []) if store is not None else []
        self.times: deque[float] = deque(float(t) for t in saved)

    def _trim(self, now: float) -> None:
        while self.times and self.times[0] <= now - self.window:
            self.times.popleft()

    def is_open(self, now: float | None = None) -> bool:
        """True when a further takeover would exceed the limit."""
        self._trim(time.time() if now is None else now)
        return len(self.times) >= self.limit

    def record(self, now: float | None = None) -> None:
        """Count one takeover."""
        now = time.time() if now is None else now
        self._trim(now)
        self.times.append(now)
        if self.store is not None:
            self.store.set("faultmgr-vip", self.key, list(self.times))

    def status(self) -> dict[str, Any]:
        return {"open": self.is_open(), "recent_takeovers": len(self.times), "limit": self.limit,
                "window_s": self.window}
